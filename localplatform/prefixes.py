"""Where the names that start with a prefix end, in sorted order."""

from __future__ import annotations

# The highest code point: no string's character sorts after it.
_LAST_CHARACTER = "\U0010ffff"


def after_prefix(prefix: str) -> str | None:
    """The least string greater than every string that starts with `prefix` (None: no such
    string). With `prefix` itself, it bounds the names that start with it in a sorted index."""
    stem = prefix.rstrip(_LAST_CHARACTER)
    if not stem:
        return None
    following = ord(stem[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates are not characters: skip them
        following = 0xE000
    return stem[:-1] + chr(following)
