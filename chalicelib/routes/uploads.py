"""Presigned uploads: a POST for files up to 100 MiB, multipart above, resumable."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response
from pydantic import Field

from chalicelib.auth.identity import cognito_authorizer
from chalicelib.auth.roles import Action
from chalicelib.bodies import RequestBody, parse_body
from chalicelib.fields import JsonInt
from chalicelib.files.service import MAX_PARTS
from chalicelib.pagination import limit_of
from chalicelib.routes.context import acting

bp = Blueprint(__name__)


class StartUploadBody(RequestBody):
    # The name is checked by the files domain (API.md's invalid_name rule).
    name: str
    size: JsonInt  # true or "10" is not a size
    content_type: str | None = Field(default=None, min_length=1, max_length=255)
    table: str | None = None  # checked by the files domain (API.md's invalid_table_name rule)


class Part(RequestBody):
    part_number: JsonInt = Field(ge=1, le=MAX_PARTS)
    etag: str = Field(min_length=1, max_length=128)


class CompleteBody(RequestBody):
    parts: list[Part] = Field(min_length=1, max_length=MAX_PARTS)


@bp.route("/uploads", methods=["POST"], authorizer=cognito_authorizer)
def start_upload() -> Response:
    caller, tenant = acting(bp.current_request, Action.UPLOAD)
    body = parse_body(bp.current_request, StartUploadBody)
    started = tenant.files.start_upload(caller, body.name, body.size, body.content_type, body.table)
    return Response(
        body={"file_id": started.record.file_id, "upload": started.upload, "expires_in": started.expires_in},
        status_code=201,
    )


@bp.route("/uploads/{file_id}/parts", methods=["GET"], authorizer=cognito_authorizer)
def upload_parts(file_id: str) -> dict[str, Any]:
    caller, tenant = acting(bp.current_request, Action.UPLOAD)
    first = limit_of((bp.current_request.query_params or {}).get("from"), 1, MAX_PARTS, name="from")
    return tenant.files.parts(caller, file_id, first) | {"expires_in": tenant.settings.upload_url_seconds}


@bp.route("/uploads/{file_id}/complete", methods=["POST"], authorizer=cognito_authorizer)
def complete_upload(file_id: str) -> dict[str, Any]:
    caller, tenant = acting(bp.current_request, Action.UPLOAD)
    body = parse_body(bp.current_request, CompleteBody)
    parts = [(part.part_number, part.etag) for part in body.parts]
    return tenant.files.complete(caller, file_id, parts).view()
