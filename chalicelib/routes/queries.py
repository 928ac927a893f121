"""Queries: submit SQL, follow it, page through its rows, download them, cancel it."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response
from pydantic import StrictBool

from chalicelib.auth.caller import Caller
from chalicelib.auth.identity import cognito_authorizer
from chalicelib.bodies import RequestBody, parse_body
from chalicelib.errors import BadRequest
from chalicelib.pagination import limit_of
from chalicelib.queries.engine import Page
from chalicelib.queries.store import MAX_WAIT_SECONDS, QueryRecord, QueryState
from chalicelib.routes.context import acting, listed
from chalicelib.services import TenantServices

bp = Blueprint(__name__)

QUERIES = "queries"  # the query list's collection: its body's key, and what its next_token belongs to


def rows_of(query_id: str) -> str:
    """The collection of one query's result pages: a token of one query means nothing for another."""
    return f"query:{query_id}"


class SubmitBody(RequestBody):
    sql: str  # an empty one is refused SQL (invalid_sql), as the guard says of any query
    dry_run: StrictBool = False  # only the estimate: nothing runs


@bp.route("/queries", methods=["POST"], authorizer=cognito_authorizer)
def submit_query() -> Response:
    caller, tenant = acting(bp.current_request)
    body = parse_body(bp.current_request, SubmitBody)
    if body.dry_run:
        return Response(body=tenant.queries.estimate(caller, body.sql).view(), status_code=200)
    record = tenant.queries.submit(caller, body.sql)
    # A query answered with an earlier result has ended already: its first page comes with it.
    return Response(body=shown(caller, tenant, record, {}), status_code=202)


@bp.route("/queries/{query_id}", methods=["GET"], authorizer=cognito_authorizer)
def get_query(query_id: str) -> dict[str, Any]:
    caller, tenant = acting(bp.current_request)
    params = bp.current_request.query_params or {}
    max_rows = limit_of(params.get("max_rows"), default=1000, maximum=1000, name="max_rows")
    wait = limit_of(params.get("wait"), default=0, maximum=MAX_WAIT_SECONDS, minimum=0, name="wait")
    return shown(caller, tenant, tenant.queries.get(caller, query_id, wait=wait), params, max_rows)


def shown(
    caller: Caller, tenant: TenantServices, record: QueryRecord, params: dict[str, str], max_rows: int = 1000
) -> dict[str, Any]:
    """The query record; a SUCCEEDED one with its columns and a page of rows from `next_token`."""
    if record.status is not QueryState.SUCCEEDED:
        return record.view()

    def rows(position: str | None) -> tuple[Page, str | None]:
        page = tenant.queries.page(record, position, max_rows)
        return page, page.position

    page, token = tenant.tokens.paged(caller.tenant_id, rows_of(record.query_id), params.get("next_token"), rows)
    return record.view(page, token)


@bp.route("/queries/{query_id}/results.csv", methods=["GET"], authorizer=cognito_authorizer)
def query_results(query_id: str) -> dict[str, Any]:
    caller, tenant = acting(bp.current_request)
    _, key = tenant.queries.result_object(caller, query_id)
    url = tenant.results.download_url(key, f"{query_id}.csv", tenant.settings.download_url_seconds)
    return {"url": url, "expires_in": tenant.settings.download_url_seconds}


@bp.route("/queries", methods=["GET"], authorizer=cognito_authorizer)
def list_queries() -> dict[str, Any]:
    caller, tenant = acting(bp.current_request)
    return listed(bp.current_request, tenant, QUERIES, lambda limit, after: tenant.queries.list(caller, limit, after))


@bp.route("/queries/{query_id}", methods=["DELETE"], authorizer=cognito_authorizer)
def cancel_query(query_id: str) -> Response:
    caller, tenant = acting(bp.current_request)
    if bp.current_request.raw_body:
        raise BadRequest("invalid_request", "DELETE takes no body.")
    return Response(body=tenant.queries.cancel(caller, query_id).view(), status_code=202)
