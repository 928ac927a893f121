"""docs/openapi.yaml is a valid OpenAPI document and names exactly the app's routes."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate

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
