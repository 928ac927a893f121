"""Finding files and tables: by a piece of a name (the file's, its table's, a column's) and by
status, format or column type, read from the tenant's own items with a filter (never a Scan)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.errors import BadRequest
from chalicelib.files.records import Status

FORMATS = ("csv", "tsv", "jsonl", "parquet")
MAX_TEXT = 255


@dataclass(frozen=True)
class Search:
    text: str | None = None  # lower-cased: names are matched without regard to case
    status: str | None = None
    format: str | None = None
    column_type: str | None = None

    @classmethod
    def of(cls, params: Mapping[str, str], *, files: bool) -> Search | None:
        """The search a list route's query parameters ask for; None for the plain listing."""
        given = {name: params[name] for name in ("q", "status", "format", "column_type") if name in params}
        if not given:
            return None
        if not files and ({"status", "format"} & given.keys()):
            raise BadRequest("invalid_request", "status and format filter files: tables take q and column_type.")
        for name, text in given.items():
            if not 1 <= len(text) <= MAX_TEXT or any(ord(c) < 32 or ord(c) == 127 for c in text):
                raise BadRequest(
                    "invalid_request", f"{name}: give 1 to {MAX_TEXT} characters, none a control character."
                )
        status = given.get("status")
        if status is not None and status not in Status.__members__:
            raise BadRequest("invalid_request", f"status: one of {', '.join(Status.__members__)}.")
        format_ = given.get("format")
        if format_ is not None and format_ not in FORMATS:
            raise BadRequest("invalid_request", f"format: one of {', '.join(FORMATS)}.")
        text, column_type = given.get("q"), given.get("column_type")
        return cls(text.lower() if text else None, status, format_, column_type.lower() if column_type else None)

    @property
    def scope(self) -> str:
        """The search as a page token names it: a token of one search is refused by another."""
        return "&".join(f"{name}={value}" for name, value in sorted(vars(self).items()) if value is not None)

    def condition(self) -> tuple[str, dict[str, Any], dict[str, str]]:
        """DynamoDB's filter for it: the expression, its values and its names."""
        parts, values, names = [], {}, {}
        if self.text is not None:
            parts.append("contains(search_text, :text)")
            values[":text"] = self.text
        if self.status is not None:
            parts.append("#status = :status")
            values[":status"], names["#status"] = self.status, "status"
        if self.format is not None:
            parts.append("#format = :format")
            values[":format"], names["#format"] = self.format, "format"
        if self.column_type is not None:
            parts.append("contains(column_types, :type)")
            values[":type"] = self.column_type
        return " AND ".join(parts), values, names
