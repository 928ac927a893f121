r"""Field types shared by request models, and the rules docs/openapi.yaml states for them.

Each pattern is the document's own (tests/unit/test_openapi.py holds them equal): what the
document allows is exactly what is accepted. They end in `(?![\s\S])`, "nothing follows", not
`$`: in Python's `re`, which JSON Schema validators and schemathesis use, `$` also matches before a
final newline.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, StrictInt
from pydantic_core import PydanticCustomError

from chalicelib.errors import BadRequest

# A subset of RFC 5322 addresses that Cognito (and the local platform's) accept as a username.
EMAIL_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\s\S])"
EMAIL_MAX_LENGTH = 128  # the address is the pool's username, and Cognito takes no longer one

# The user pool's policy (template.yaml): 12 or more characters with a lower-case and an upper-case
# letter, a digit and one of Cognito's symbols (a space counts); no control characters, and no
# space at either end. At most 98: the local platform's Cognito refuses 99 and more, and one rule
# holds everywhere.
PASSWORD_PATTERN = (
    r"^(?=.*[a-z])(?=.*[A-Z])(?=.*[0-9])(?=.*[\^$*.\[\]{}()?"  # noqa: S105  (a rule, not a password)
    r'"!@#%&/\\,><'
    r"':;|_~`=+ -])"
    r"[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f\u2028\u2029]{10,96}[^\s\x00-\x1f\x7f-\x9f](?![\s\S])"
)

# A tenant's display name: 1-100 characters, no control characters, no space at either end.
DISPLAY_NAME_PATTERN = (
    r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f\u2028\u2029]{0,98}[^\s\x00-\x1f\x7f-\x9f])?(?![\s\S])"
)


def _matching(pattern: str, code: str, message: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str | SecretStr) -> str | SecretStr:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if compiled.fullmatch(text) is None:
            raise PydanticCustomError(code, message)
        return value

    return AfterValidator(check)


# Lower-cased once valid, so that one address is one account (the pool compares usernames
# case-insensitively).
Email = Annotated[
    str,
    Field(max_length=EMAIL_MAX_LENGTH),
    _matching(EMAIL_PATTERN, "invalid_request", "give an e-mail address such as ann@example.com"),
    AfterValidator(str.lower),
]

# The address an account logs in or confirms with: any an account may have, so looser than the
# rule for a new one (one @ with something either side; no space or control character, spelled
# out: `\s` means other characters in other regex engines).
ACCOUNT_EMAIL_PATTERN = r"^[^@\x00-\x20\x7f-\xa0]+@[^@\x00-\x20\x7f-\xa0]+(?![\s\S])"
AccountEmail = Annotated[
    str,
    Field(max_length=EMAIL_MAX_LENGTH),
    _matching(ACCOUNT_EMAIL_PATTERN, "invalid_request", "give your account's e-mail address"),
    AfterValidator(str.lower),
]

# SecretStr keeps a password out of reprs, logs and validation messages. One to log in with is
# whatever it is; a new one must meet the policy (400 invalid_password).
Password = Annotated[SecretStr, Field(min_length=1, max_length=256)]
POLICY_MESSAGE = (
    "a password has 12 to 98 characters, with a lower-case and an upper-case letter, a digit and a "
    "symbol, no control characters and no space at either end"
)
NewPassword = Annotated[SecretStr, _matching(PASSWORD_PATTERN, "invalid_password", POLICY_MESSAGE)]


def check_new_password(password: str) -> None:
    """400 invalid_password unless `password` meets the policy: for a password checked only where
    one is taken at all (a new member's, locally)."""
    if re.fullmatch(PASSWORD_PATTERN, password) is None:
        raise BadRequest("invalid_password", f"password: {POLICY_MESSAGE}.")


DisplayName = Annotated[
    str,
    _matching(
        DISPLAY_NAME_PATTERN,
        "invalid_request",
        "give 1 to 100 characters, no control characters and no space at either end",
    ),
]


def _json_integer(value: object) -> object:
    """A JSON integer, as JSON Schema counts one: 5 and 5.0 (one number in JSON's data model), not
    5.5, true or "5". Anything else goes on to StrictInt, which refuses it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[StrictInt, BeforeValidator(_json_integer)]

# Error types of these rules that are codes of their own (API.md), not invalid_request.
FIELD_ERROR_CODES = frozenset({"invalid_password"})
