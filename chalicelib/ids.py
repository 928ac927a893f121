"""Ids for tenants, files and queries: opaque, URL-safe and sortable by creation time."""

from __future__ import annotations

import re

from ulid import ULID

# What new_id makes (the first character at most 7: 128 bits); anything else names nothing of ours.
ID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")


def new_id() -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, 26 characters of Crockford base32."""
    return str(ULID())


def is_id(text: str) -> bool:
    """Whether `text` is shaped like an id new_id makes; checked before it reaches a key."""
    return ID.fullmatch(text) is not None
