"""One exception tree for everything the client can meet: the API's error shape, the network, ingest and queries."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

import httpx

# The SQL guard's syntax errors say where: "Syntax error at line 2, column 8: …".
_POSITION = re.compile(r"\bline (\d+), column (\d+)\b")


class SdpError(Exception):
    """Anything the platform or the way to it refused. `code` is stable and snake_case, like the API's."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ApiError(SdpError):
    """An answer in the API's error shape: `{"error": {"code", "message", "request_id"}}`."""

    def __init__(self, status: int, code: str, message: str, request_id: str | None) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.request_id = request_id

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class AuthenticationError(ApiError):
    """401: no login, or one the platform does not accept."""


class LoginExpired(AuthenticationError):
    """The saved login can no longer be refreshed (or there is none): log in again."""

    def __init__(self, message: str) -> None:
        super().__init__(401, "login_expired", message, None)


class PermissionDenied(ApiError):
    """403: the role does not allow it, or the user belongs to no tenant."""


class NotFound(ApiError):
    """404: nothing with that id for this tenant (another tenant's ids answer the same)."""


class QuotaExceeded(ApiError):
    """413 `quota_exceeded`: the tenant's storage or file quota is used up."""


class SqlRefused(ApiError):
    """400 `invalid_sql` or `forbidden_sql`: the query was refused before anything ran."""

    def __init__(self, status: int, code: str, message: str, request_id: str | None) -> None:
        super().__init__(status, code, message, request_id)
        position = _POSITION.search(message)
        self.line: int | None = int(position.group(1)) if position else None
        self.column: int | None = int(position.group(2)) if position else None


class Throttled(ApiError):
    """429: too many requests or queries at once; try again later."""


class BudgetExceeded(Throttled):
    """429 `budget_exceeded`: the query would scan more than is left of the tenant's monthly scan budget.
    `remaining_scan_bytes` is what is left, `resets_at` when the budget starts again (UTC): the message
    says both, in words (`server_message` is the platform's own)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        request_id: str | None,
        remaining_scan_bytes: int | None = None,
        resets_at: datetime | None = None,
    ) -> None:
        self.remaining_scan_bytes = remaining_scan_bytes
        self.resets_at = resets_at
        self.server_message = message
        if remaining_scan_bytes is None or resets_at is None:  # not in the contract's shape: the platform's words
            told = message
        else:
            told = (
                f"The query would scan more than is left of this month's scan budget: {size_text(remaining_scan_bytes)}"
                f" left until the budget resets {utc_text(resets_at)}."
            )
        super().__init__(status, code, told, request_id)


def size_text(count: int) -> str:
    """Bytes as a person reads them: `1.2 GB (1,234,567,890 bytes)`, `512 bytes`."""
    if abs(count) < 1000:
        return f"{count:,} byte" + ("" if count == 1 else "s")
    power = min(6, int(math.log10(abs(count)) // 3))
    unit = ("kB", "MB", "GB", "TB", "PB", "EB")[power - 1]
    return f"{count / 1000**power:,.1f} {unit} ({count:,} bytes)"


def utc_text(moment: datetime) -> str:
    """A moment as `2027-01-01 00:00 UTC` (a moment without a zone is taken as UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


class Unavailable(ApiError):
    """5xx: the platform could not answer now (retried already where that was safe)."""


class NetworkError(SdpError):
    """The platform (or storage) could not be reached, after the retries that were safe."""

    code = "network_error"


class FileFailed(SdpError):
    """Ingest ended the file FAILED: `code` and `message` are the platform's, `file` the record."""

    def __init__(self, file: Any) -> None:
        super().__init__(file.error.message, code=file.error.code)
        self.file = file

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class QueryFailed(SdpError):
    """The query ended FAILED or CANCELLED: `code` and `message` are the platform's, `query` the record."""

    def __init__(self, query: Any) -> None:
        if query.error is not None:
            code, message = query.error.code, query.error.message
        else:
            code, message = "query_cancelled", "The query was cancelled."
        super().__init__(message, code=code)
        self.query = query

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


_BY_STATUS: dict[int, type[ApiError]] = {401: AuthenticationError, 403: PermissionDenied, 404: NotFound, 429: Throttled}
_BY_CODE: dict[str, type[ApiError]] = {
    "quota_exceeded": QuotaExceeded,
    "invalid_sql": SqlRefused,
    "forbidden_sql": SqlRefused,
}


def error_from_response(response: httpx.Response) -> ApiError:
    """The exception for an error answer; a body not in the error shape (a proxy's page) still gives one."""
    try:
        body = response.json()
        error = body["error"]
        code, message = str(error["code"]), str(error["message"])
        request_id = error.get("request_id")
    except (ValueError, KeyError, TypeError):
        code = "http_error"
        message = f"{response.status_code} {response.reason_phrase} from {response.request.url.host}"
        request_id = None
    request_id = request_id or response.headers.get("x-request-id")
    if code == "budget_exceeded":
        return BudgetExceeded(response.status_code, code, message, request_id, *_budget_left(error))
    kind = _BY_CODE.get(code) or _BY_STATUS.get(response.status_code)
    if kind is None:
        kind = Unavailable if response.status_code >= 500 else ApiError
    return kind(response.status_code, code, message, request_id)


def _budget_left(error: Any) -> tuple[int | None, datetime | None]:
    """`remaining_scan_bytes` and `resets_at` from a budget_exceeded answer, None where missing or malformed."""
    remaining = error.get("remaining_scan_bytes")
    if isinstance(remaining, bool) or not isinstance(remaining, int):
        remaining = None
    try:
        resets_at = datetime.fromisoformat(str(error["resets_at"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        resets_at = None
    return remaining, resets_at
