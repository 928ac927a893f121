"""Check responses against docs/openapi.yaml, the published contract."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.conftest import ROOT

DOCUMENT_URI = "urn:sdp:openapi"


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text(encoding="utf-8"))


def assert_conforms(method: str, path: str, status: int, body: Any) -> None:
    """Raise unless `body` is what the document promises for this operation and status."""
    operation = document()["paths"][path][method.lower()]
    response = operation["responses"].get(str(status)) or operation["responses"]["default"]
    response = _resolve(response)
    schema = response["content"]["application/json"]["schema"]
    registry = Registry().with_resource(DOCUMENT_URI, Resource(contents=document(), specification=DRAFT202012))
    Draft202012Validator({"$ref": DOCUMENT_URI + schema["$ref"]}, registry=registry).validate(body)


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node
