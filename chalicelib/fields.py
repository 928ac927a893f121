"""Field types shared by request models."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr, StringConstraints


def _no_control_characters(text: str) -> str:
    if any(ord(character) < 32 or ord(character) == 127 for character in text):
        raise ValueError("must not contain control characters")
    return text


# Lower-cased so that one address is one account (the pool compares usernames case-insensitively).
# At most 128 characters: the address is the pool's username, and Cognito takes no longer one.
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, min_length=3, max_length=128, pattern=r"^[^@\s]+@[^@\s]+$"),
]

# SecretStr keeps a password out of reprs, logs and validation messages.
Password = Annotated[SecretStr, Field(min_length=1, max_length=256)]

DisplayName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), AfterValidator(_no_control_characters)
]
