"""The HTTP middleware: request ids, the one error mapping, access logs and request metrics."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from chalice.app import Request, Response

from chalicelib.errors import AppError, error_body, from_framework
from chalicelib.observability import MetricUnit, logger, metrics, traced

REQUEST_ID_HEADER = "X-Request-Id"


def request_id_of(request: Request) -> str:
    """API Gateway's request id (the one in its access logs), or a new one where there is none."""
    return request.context.get("requestId") or str(uuid.uuid4())


def http_middleware(request: Request, get_response: Callable[[Request], Response]) -> Response:
    """Wrap every route: tag logs, map errors to API.md's body, log, measure and trace the request."""
    started = time.perf_counter()
    request_id = request_id_of(request)
    route = f"{request.method} {request.context.get('resourcePath', request.path)}"
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(request_id=request_id, route=route)

    with traced("request", route=route) as annotate:
        response, error = _answered(request, get_response)
        # The caller's tenant, where the route resolved one (routes/context.py tags the logs with it).
        tenant_id = logger.thread_safe_get_current_keys().get("tenant_id")
        annotate(status=response.status_code, **({"tenant_id": tenant_id} if tenant_id else {}))
    if error is not None:
        response = Response(body=error_body(error, request_id), status_code=error.status)
    response.headers[REQUEST_ID_HEADER] = request_id

    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    log = logger.warning if response.status_code >= 500 else logger.info
    log(
        "request",
        extra={
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "latency_ms": latency_ms,
            **({"error_code": error.code} if error is not None else {}),
        },
    )
    with metrics(route=route, per_version=True) as recorder:
        recorder.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
        recorder.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=latency_ms)
        recorder.add_metric(name="ServerErrors", unit=MetricUnit.Count, value=int(response.status_code >= 500))
    logger.thread_safe_clear_keys()
    return response


def _answered(request: Request, get_response: Callable[[Request], Response]) -> tuple[Response, AppError | None]:
    """The route's response, and the error to answer instead if there is one (as its status)."""
    try:
        response = get_response(request)
        return response, from_framework(response.status_code, response.body)
    except AppError as exc:
        if exc.status >= 500:
            logger.exception("request failed")
        return Response(body="", status_code=exc.status), exc
    except Exception:
        # Chalice turns errors raised in a view into a 500 itself; this catches the rest
        # (another middleware, request parsing) so that no stack trace ever reaches a caller.
        logger.exception("unhandled error")
        error = AppError()
        return Response(body="", status_code=error.status), error
