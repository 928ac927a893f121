"""Request bodies: JSON parsed and validated against a pydantic model, errors as 400s."""

from __future__ import annotations

import json
from typing import TypeVar

from chalice.app import Request
from pydantic import BaseModel, ConfigDict, ValidationError

from chalicelib.errors import BadRequest
from chalicelib.fields import FIELD_ERROR_CODES


class RequestBody(BaseModel):
    """Base of every request model: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Body = TypeVar("Body", bound=RequestBody)


def parse_body(request: Request, model: type[Body]) -> Body:
    """The request's JSON body as `model`, or 400 `invalid_request` naming each bad field."""
    raw = request.raw_body or b""
    try:
        document = json.loads(raw) if raw.strip() else None
    except ValueError:
        raise BadRequest("invalid_request", "The body is not valid JSON.") from None
    try:
        # JSON may spell half a surrogate pair (\ud800): no text, and nothing a store can keep.
        json.dumps(document, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise BadRequest("invalid_request", "The body holds text that is not valid Unicode.") from None
    if not isinstance(document, dict):
        raise BadRequest("invalid_request", "The body must be a JSON object.")
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        # A rule's own code only when it is the one thing wrong; anything else is invalid_request.
        codes = {item["type"] for item in exc.errors(include_url=False)}
        code = codes.pop() if len(codes) == 1 and codes <= FIELD_ERROR_CODES else "invalid_request"
        raise BadRequest(code, describe(exc)) from None


def describe(error: ValidationError) -> str:
    """pydantic's report as one line a person can act on: 'email: Field required; x: …'."""
    problems = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "body"
        problems.append(f"{where}: {item['msg']}")
    return "; ".join(problems)
