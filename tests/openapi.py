"""Check responses against docs/openapi.yaml, the published contract.

Every reply the suite's API clients receive is checked (`check_reply`, installed by conftest): its
status must be one the operation documents, and its body that status's schema, error codes
included. So a route that answers a status or an error code its operation does not list fails
whichever test meets it first.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.conftest import ROOT

DOCUMENT_URI = "urn:sdp:openapi"


@cache
def document() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text(encoding="utf-8"))


def assert_conforms(method: str, path: str, status: int, body: Any) -> None:
    """Raise unless `body` is what the document promises for this operation and status."""
    operation = document()["paths"][path][method.lower()]
    assert str(status) in operation["responses"], f"{method} {path} does not list {status}"
    check_reply(method, path, status, body)


def check_reply(method: str, path: str, status: int, body: Any) -> None:
    """Raise unless the reply to `method path` is one the document allows. A path or method the
    document does not have is only held to the error shape."""
    template = operation_path(method, urlsplit(path).path)
    if template is None:
        if status >= 400:
            _validator("#/components/schemas/Error").validate(body)
        return
    responses = document()["paths"][template][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {template} answered {status}, not a status it lists: {body!r}"
    pointer = f"#/paths/{_escape(template)}/{method.lower()}/responses/{status}"
    response = responses[str(status)]
    if "$ref" in response:
        pointer, response = response["$ref"], _resolve(response)
    if "content" not in response:
        assert body in (None, b""), f"{method} {template} {status} has no body in the document: {body!r}"
        return
    _validator(f"{pointer}/content/application~1json/schema").validate(body)


def operation_path(method: str, path: str) -> str | None:
    """The document's path template that `path` and `method` name, if any."""
    for template, pattern in _path_patterns():
        if pattern.fullmatch(path) and method.lower() in document()["paths"][template]:
            return template
    return None


@cache
def _path_patterns() -> list[tuple[str, re.Pattern[str]]]:
    patterns = []
    for template in document()["paths"]:
        parts = re.split(r"(\{[^}]+\})", template)
        regex = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
        patterns.append((template, re.compile(regex)))
    return patterns


def _escape(token: str) -> str:
    """A path template as one JSON Pointer token."""
    return token.replace("~", "~0").replace("/", "~1")


@cache
def _validator(pointer: str) -> Draft202012Validator:
    registry = Registry().with_resource(DOCUMENT_URI, Resource(contents=document(), specification=DRAFT202012))
    return Draft202012Validator({"$ref": DOCUMENT_URI + pointer}, registry=registry)


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node
