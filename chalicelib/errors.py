"""Domain errors and their one mapping to API.md's error body."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from chalice import ChaliceUnhandledError


class AppError(ChaliceUnhandledError):
    """A failure the caller can act on: an HTTP status, a stable code and a message.

    It derives from ChaliceUnhandledError so that Chalice lets it through to the middleware,
    which is the one place that turns it into a response.
    """

    status: int = HTTPStatus.INTERNAL_SERVER_ERROR
    code: str = "internal_error"
    message: str = "Something went wrong on our side. Try again; quote the request id if it persists."

    # Facts of the error a client acts on, in its body beside the message (budget_exceeded's reset time).
    details: dict[str, Any] = {}  # noqa: RUF012 - never changed in place: an error sets its own

    def __init__(self, code: str | None = None, message: str | None = None) -> None:
        self.code = code or self.code
        self.message = message or self.message
        super().__init__(self.message)


class BadRequest(AppError):
    status = HTTPStatus.BAD_REQUEST
    code = "invalid_request"
    message = "The request is not valid."


class Unauthenticated(AppError):
    status = HTTPStatus.UNAUTHORIZED
    code = "unauthenticated"
    message = "Sign in and send the ID token as 'Authorization: Bearer <token>'."


class Forbidden(AppError):
    status = HTTPStatus.FORBIDDEN
    code = "forbidden"
    message = "Your role does not allow this."


class NotFound(AppError):
    status = HTTPStatus.NOT_FOUND
    code = "not_found"
    message = "Nothing is at this address."


class Conflict(AppError):
    status = HTTPStatus.CONFLICT
    code = "conflict"
    message = "The request conflicts with the current state."


class UserExists(Conflict):
    """The e-mail address has an account, or the user a tenant: sign-up (Cognito) and membership
    (the platform's table) both refuse with it."""

    code = "user_exists"
    message = "A user with this e-mail address already belongs to a tenant."


class PayloadTooLarge(AppError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    code = "payload_too_large"
    message = "The request body is too large."


class TooManyRequests(AppError):
    status = HTTPStatus.TOO_MANY_REQUESTS
    code = "too_many_requests"
    message = "Too many requests; slow down and try again."


class MethodNotAllowed(AppError):
    status = HTTPStatus.METHOD_NOT_ALLOWED
    code = "method_not_allowed"
    message = "This method is not allowed on this path."


# Error codes Chalice produces itself (body {"Code", "Message"}), as our code and message.
_FRAMEWORK_ERRORS: dict[str, tuple[str, str]] = {
    "BadRequestError": (BadRequest.code, "The request is not valid: {message}"),
    "UnauthorizedError": (Unauthenticated.code, Unauthenticated.message),
    "ForbiddenError": (Forbidden.code, Forbidden.message),
    "NotFoundError": (NotFound.code, NotFound.message),
    "MethodNotAllowedError": (MethodNotAllowed.code, MethodNotAllowed.message),
    "UnsupportedMediaType": ("unsupported_media_type", "Send the body as application/json."),
    "TooManyRequestsError": (TooManyRequests.code, TooManyRequests.message),
}


def error_body(error: AppError, request_id: str) -> dict[str, Any]:
    """API.md's error shape."""
    return {"error": {**error.details, "code": error.code, "message": error.message, "request_id": request_id}}


def from_framework(status: int, body: Any) -> AppError | None:
    """Chalice's own error body as one of ours; None when the body is not one."""
    if not (status >= 400 and isinstance(body, dict) and "Code" in body and "Message" in body):
        return None
    code, message = _FRAMEWORK_ERRORS.get(body["Code"], (AppError.code, AppError.message))
    error = AppError(code, message.format(message=body["Message"]))
    error.status = status
    return error


class ServiceUnavailable(AppError):
    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "service_unavailable"
    message = "A service the platform depends on is busy; try again in a few seconds."
