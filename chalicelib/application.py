"""The Chalice application class, with request state kept per thread."""

from __future__ import annotations

import os
import threading
from typing import Any

from chalice import Chalice
from chalice.app import Request

from chalicelib.settings import get_settings


class PlatformApp(Chalice):
    """Chalice, but `current_request` and `lambda_context` belong to the calling thread.

    Chalice keeps both on the shared app object. Lambda serves one request per container at a
    time, but the local server answers many requests at once from one app object, and a request
    must never see another's (it would carry another caller's identity).
    """

    def __init__(self, app_name: str, **kwargs: Any) -> None:
        self._per_thread = threading.local()
        super().__init__(app_name, **kwargs)
        if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            # In Lambda a missing or invalid setting fails the cold start, its name in the log,
            # rather than every request. Elsewhere (packaging, tests) the app loads without them.
            get_settings()

    @property  # type: ignore[override]
    def current_request(self) -> Request | None:
        return getattr(self._per_thread, "current_request", None)

    @current_request.setter
    def current_request(self, value: Request | None) -> None:
        self._per_thread.current_request = value

    @property  # type: ignore[override]
    def lambda_context(self) -> Any:
        return getattr(self._per_thread, "lambda_context", None)

    @lambda_context.setter
    def lambda_context(self, value: Any) -> None:
        self._per_thread.lambda_context = value
