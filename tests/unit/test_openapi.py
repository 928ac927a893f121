"""docs/openapi.yaml is a valid OpenAPI document, names exactly the app's routes, and states the
rules the code enforces."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from pydantic import ValidationError

from chalicelib.bodies import RequestBody
from chalicelib.errors import BadRequest
from chalicelib.fields import (
    ACCOUNT_EMAIL_PATTERN,
    DISPLAY_NAME_PATTERN,
    EMAIL_MAX_LENGTH,
    EMAIL_PATTERN,
    PASSWORD_PATTERN,
    NewPassword,
)
from chalicelib.files.records import check_name
from chalicelib.ids import ID
from chalicelib.pagination import PageTokens
from chalicelib.tenancy.accounts import USER_ID
from tests.openapi import document

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def test_the_document_is_valid_openapi() -> None:
    validate(document())


def test_every_route_is_documented_and_every_documented_route_exists(app: Any) -> None:
    routes = {(path, method.lower()) for path, methods in app.routes.items() for method in methods}
    documented = {
        (path, method)
        for path, operations in document()["paths"].items()
        for method in operations
        if method in HTTP_METHODS
    }
    assert routes == documented


# --- The document states the rules the code enforces -----------------------------------------


NOTHING_FOLLOWS = r"(?![\s\S])"  # the document's patterns end so, not with `$` (chalicelib/fields.py)


def _schema(name: str) -> dict[str, Any]:
    return document()["components"]["schemas"][name]  # type: ignore[no-any-return]


def test_the_documents_patterns_are_the_ones_the_code_enforces() -> None:
    assert _schema("Email")["pattern"] == EMAIL_PATTERN
    assert _schema("Email")["maxLength"] == EMAIL_MAX_LENGTH
    assert _schema("AccountEmail")["pattern"] == ACCOUNT_EMAIL_PATTERN
    assert _schema("AccountEmail")["maxLength"] == EMAIL_MAX_LENGTH
    assert _schema("NewPassword")["pattern"] == PASSWORD_PATTERN
    assert _schema("SignUpRequest")["properties"]["tenant_name"]["pattern"] == DISPLAY_NAME_PATTERN
    assert _schema("Id")["pattern"] == f"^{ID.pattern}{NOTHING_FOLLOWS}"
    assert _schema("UserId")["pattern"] == f"^{USER_ID.pattern}{NOTHING_FOLLOWS}"


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300) | st.text(alphabet=st.characters(max_codepoint=0xA0), max_size=20))
def test_a_file_name_is_accepted_exactly_when_the_document_allows_it(name: str) -> None:
    rule = _schema("FileName")
    allowed = rule["minLength"] <= len(name) <= rule["maxLength"] and re.search(rule["pattern"], name) is not None
    try:
        check_name(name)
        accepted = True
    except BadRequest:
        accepted = False
    assert accepted == allowed


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_a_password_meets_the_policy_exactly_when_the_document_allows_it(password: str) -> None:
    allowed = re.search(_schema("NewPassword")["pattern"], password) is not None
    refused: list[str] = []
    try:
        _NewPasswordBody.model_validate({"password": password})
    except ValidationError as error:
        refused = [problem["type"] for problem in error.errors()]
    assert (refused == []) == allowed
    assert refused in ([], ["invalid_password"])


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=64), st.sampled_from(["files", "tables", "queries"]))
def test_every_next_token_the_api_gives_matches_the_documents_pattern(position: str, collection: str) -> None:
    token = PageTokens(b"k" * 32).issue("01TENANT", collection, position)
    assert re.search(_schema("NextToken")["pattern"], token)


def test_every_operation_lists_its_errors_and_no_catch_all() -> None:
    """Each status an operation may answer is listed with its codes; none hides behind `default`."""
    for path, operations in document()["paths"].items():
        for method, operation in operations.items():
            if method not in HTTP_METHODS:
                continue
            statuses = set(operation["responses"])
            assert "default" not in statuses, (method, path)
            assert {"413", "429", "500", "504"} <= statuses, (method, path)
            if operation.get("security", document()["security"]) != []:  # the ID token is checked
                assert operation["responses"]["401"] == {"$ref": "#/components/responses/Unauthenticated"}


class _NewPasswordBody(RequestBody):
    password: NewPassword
