"""Saved queries: save SQL under a name, list, read, change and delete them, and run one."""

from __future__ import annotations

import re
from typing import Annotated, Any

from chalice import Blueprint, Response
from pydantic import AfterValidator, Field, model_validator

from chalicelib.auth.identity import cognito_authorizer
from chalicelib.auth.roles import Action
from chalicelib.bodies import RequestBody, parse_body
from chalicelib.queries.saved import DESCRIPTION_MAX_LENGTH, NAME_MAX_LENGTH, NAME_PATTERN, Changes
from chalicelib.routes.context import acting, listed
from chalicelib.routes.queries import shown

bp = Blueprint(__name__)

SAVED_QUERIES = "saved_queries"  # the list's collection: its body's key, and what its next_token belongs to

_NAME = re.compile(NAME_PATTERN)


def _one_line(name: str) -> str:
    if _NAME.fullmatch(name) is None:
        raise ValueError(f"give 1 to {NAME_MAX_LENGTH} characters, not only spaces, and no control characters")
    return name


Name = Annotated[str, Field(max_length=NAME_MAX_LENGTH), AfterValidator(_one_line)]
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX_LENGTH)]


class SaveBody(RequestBody):
    name: Name
    sql: str  # judged by the SQL guard as POST /queries judges it: an empty one is invalid_sql
    description: Description | None = None


class ChangeBody(RequestBody):
    name: Name | None = None
    sql: str | None = None
    description: Description | None = None

    @model_validator(mode="after")
    def _something_changes(self) -> ChangeBody:
        given = self.model_fields_set
        if not given:
            raise ValueError("give at least one of name, sql and description")
        # Only a description may be null (none); a name and SQL are changed or left out.
        nulls = sorted(field for field in given & {"name", "sql"} if getattr(self, field) is None)
        if nulls:
            raise ValueError(f"{' and '.join(nulls)} cannot be null: leave out what does not change")
        return self

    def changes(self) -> Changes:
        return Changes(self.name, self.sql, self.description, sets_description="description" in self.model_fields_set)


@bp.route("/saved-queries", methods=["POST"], authorizer=cognito_authorizer)
def save_query() -> Response:
    caller, tenant = acting(bp.current_request, Action.SAVE_QUERY)
    body = parse_body(bp.current_request, SaveBody)
    saved = tenant.saved_queries.create(caller, body.name, body.sql, body.description)
    return Response(body=saved.view(), status_code=201)


@bp.route("/saved-queries", methods=["GET"], authorizer=cognito_authorizer)
def list_saved_queries() -> dict[str, Any]:
    caller, tenant = acting(bp.current_request)
    return listed(
        bp.current_request,
        tenant,
        SAVED_QUERIES,
        lambda limit, after: tenant.saved_queries.page(caller, limit, after),
    )


@bp.route("/saved-queries/{saved_query_id}", methods=["GET"], authorizer=cognito_authorizer)
def get_saved_query(saved_query_id: str) -> dict[str, Any]:
    caller, tenant = acting(bp.current_request)
    return tenant.saved_queries.get(caller, saved_query_id).view()


@bp.route("/saved-queries/{saved_query_id}", methods=["PATCH"], authorizer=cognito_authorizer)
def change_saved_query(saved_query_id: str) -> dict[str, Any]:
    caller, tenant = acting(bp.current_request)  # its author or an admin: the service says which
    body = parse_body(bp.current_request, ChangeBody)
    return tenant.saved_queries.update(caller, saved_query_id, body.changes()).view()


@bp.route("/saved-queries/{saved_query_id}", methods=["DELETE"], authorizer=cognito_authorizer)
def delete_saved_query(saved_query_id: str) -> Response:
    caller, tenant = acting(bp.current_request)  # its author or an admin: the service says which
    tenant.saved_queries.delete(caller, saved_query_id)
    return Response(body="", status_code=204)


@bp.route("/saved-queries/{saved_query_id}/run", methods=["POST"], authorizer=cognito_authorizer)
def run_saved_query(saved_query_id: str) -> Response:
    caller, tenant = acting(bp.current_request)
    saved = tenant.saved_queries.get(caller, saved_query_id)
    record = tenant.queries.submit(caller, saved.sql)  # guarded again, against the tables as they are now
    return Response(body=shown(caller, tenant, record, {}), status_code=202)
