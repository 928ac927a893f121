"""Files: direct upload, list, read, download, delete; and the tenant's tables."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.auth.identity import cognito_authorizer
from chalicelib.auth.roles import Action
from chalicelib.files.search import Search
from chalicelib.forms import form_file, is_form
from chalicelib.pagination import limit_of
from chalicelib.routes.context import acting, listed

bp = Blueprint(__name__)

# The collections the list routes answer (each its body's key), and a next_token belongs to one: a
# token of one is refused by the other.
FILES = "files"
TABLES = "tables"


@bp.route("/files", methods=["POST"], authorizer=cognito_authorizer, content_types=["*/*"])
def upload_file() -> Response:
    request = bp.current_request
    caller, tenant = acting(request, Action.UPLOAD)
    raw = request.raw_body or b""
    body = raw if isinstance(raw, bytes) else raw.encode()
    params = request.query_params or {}
    name, table, content_type = params.get("name"), params.get("table"), request.headers.get("content-type")
    if is_form(content_type):  # an HTML form or `curl -F`: the file is the form's file part
        form = form_file(content_type or "", body, tenant.settings.max_direct_upload_bytes)
        name = form.filename if name is None else name  # an empty ?name= is refused, not replaced
        body, content_type = form.data, form.content_type
    record = tenant.files.upload_direct(caller, name, body, content_type, table)
    return Response(body=record.view(), status_code=201)


@bp.route("/files", methods=["GET"], authorizer=cognito_authorizer)
def list_files() -> dict[str, Any]:
    """The tenant's files, newest first; those a search finds (`q`, `status`, `format`, `column_type`)."""
    request = bp.current_request
    caller, tenant = acting(request)
    search = Search.of(request.query_params or {}, files=True)
    return listed(
        request,
        tenant,
        FILES,
        lambda limit, after: tenant.files.page(caller, limit, after, search),
        search.scope if search else None,
    )


@bp.route("/files/{file_id}", methods=["GET"], authorizer=cognito_authorizer)
def get_file(file_id: str) -> dict[str, Any]:
    caller, tenant = acting(bp.current_request)
    return tenant.files.get(caller, file_id).view()


@bp.route("/files/{file_id}/content", methods=["GET"], authorizer=cognito_authorizer)
def file_content(file_id: str) -> dict[str, Any]:
    caller, tenant = acting(bp.current_request)
    url = tenant.files.download_url(caller, file_id)
    return {"url": url, "expires_in": tenant.settings.download_url_seconds}


@bp.route("/files/{file_id}", methods=["DELETE"], authorizer=cognito_authorizer)
def delete_file(file_id: str) -> Response:
    caller, tenant = acting(bp.current_request)
    tenant.files.delete(caller, file_id)
    return Response(body="", status_code=204)


@bp.route("/tables", methods=["GET"], authorizer=cognito_authorizer)
def list_tables() -> dict[str, Any]:
    """The tenant's tables in name order; those a search finds (`q`, `column_type`)."""
    request = bp.current_request
    caller, tenant = acting(request)
    search = Search.of(request.query_params or {}, files=False)
    return listed(
        request,
        tenant,
        TABLES,
        lambda limit, after: tenant.files.tables(caller, limit, after, search),
        search.scope if search else None,
    )


@bp.route("/tables/{table}", methods=["GET"], authorizer=cognito_authorizer)
def get_table(table: str) -> dict[str, Any]:
    """The table's columns, counts and schema history, and a page of its files (`?limit=`,
    `?next_token=`, as the lists take them)."""
    request = bp.current_request
    caller, tenant = acting(request)
    found = tenant.files.table(caller, table)
    params = request.query_params or {}
    limit = limit_of(params.get("limit"))
    files, next_token = tenant.tokens.paged(
        tenant.tenant_id,
        f"files of table {found.table_id}",  # a token of one table's files is refused for another's
        params.get("next_token"),
        lambda after: tenant.files.table_files(caller, found, limit, after),
    )
    return found.view() | {
        "files": [entry.view() for entry in files],
        "next_token": next_token,
        "schema_history": found.history(),
    }
