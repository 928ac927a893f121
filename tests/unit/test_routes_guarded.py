"""Every route but the public ones carries the Cognito authorizer and refuses a missing token."""

from __future__ import annotations

from typing import Any

from chalice.test import Client

from chalicelib.auth.identity import cognito_authorizer

PUBLIC = {"/health", "/auth/signup", "/auth/confirm", "/auth/login", "/auth/refresh"}


def _routes(app: Any) -> list[tuple[str, str, Any]]:
    return [(path, method, entry) for path, methods in app.routes.items() for method, entry in methods.items()]


def test_every_protected_route_names_the_cognito_authorizer(app: Any) -> None:
    for path, method, entry in _routes(app):
        expected = None if path in PUBLIC else cognito_authorizer
        assert entry.authorizer is expected, f"{method} {path}"


def test_every_protected_route_refuses_a_request_without_a_token(
    app: Any, client: Client, platform_services: Any
) -> None:
    for path, method, _ in _routes(app):
        if path in PUBLIC:
            continue
        concrete = path.replace("{user_id}", "someone").replace("{file_id}", "01HZZZZZZZZZZZZZZZZZZZZZZZ")
        response = client.http.request(method, concrete, headers={"Content-Type": "application/json"}, body=b"{}")
        assert response.status_code == 401, f"{method} {path}"
        assert response.json_body["error"]["code"] == "unauthenticated"
