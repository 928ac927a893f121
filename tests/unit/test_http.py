"""The HTTP contract every route shares: request ids, API.md's error body, access logs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.application import PlatformApp
from chalicelib.errors import Conflict, NotFound
from chalicelib.middleware import REQUEST_ID_HEADER, http_middleware


def test_health_answers_per_the_contract(client: Client) -> None:
    response = client.http.get("/health")
    assert response.status_code == 200
    assert response.json_body == {"status": "ok", "version": "0.1.0"}
    assert response.headers[REQUEST_ID_HEADER]


def test_each_request_gets_its_own_id(client: Client) -> None:
    ids = {client.http.get("/health").headers[REQUEST_ID_HEADER] for _ in range(3)}
    assert len(ids) == 3


def test_a_method_the_route_lacks_answers_405_in_the_error_shape(client: Client) -> None:
    response = client.http.delete("/health")
    assert response.status_code == 405
    error = response.json_body["error"]
    assert error["code"] == "method_not_allowed"
    assert error["request_id"] == response.headers[REQUEST_ID_HEADER]


@pytest.fixture
def probe() -> Iterator[Client]:
    """An app with the platform's middleware and routes that fail on purpose."""
    app = PlatformApp(app_name="sdp", configure_logs=False)
    app.register_middleware(http_middleware, "http")

    @app.route("/domain-error")
    def domain_error() -> None:
        raise NotFound("file_not_found", "No file with that id.")

    @app.route("/conflict")
    def conflict() -> None:
        raise Conflict()

    @app.route("/crash")
    def crash() -> None:
        raise RuntimeError("secret internals")

    @app.route("/bad-json", methods=["POST"])
    def bad_json() -> Any:
        return app.current_request.json_body

    with Client(app, stage_name="local") as test_client:
        yield test_client


def test_a_domain_error_becomes_its_status_and_code(probe: Client) -> None:
    response = probe.http.get("/domain-error")
    assert response.status_code == 404
    assert response.json_body == {
        "error": {
            "code": "file_not_found",
            "message": "No file with that id.",
            "request_id": response.headers[REQUEST_ID_HEADER],
        }
    }


def test_a_domain_error_keeps_its_default_message(probe: Client) -> None:
    response = probe.http.get("/conflict")
    assert response.status_code == 409
    assert response.json_body["error"]["code"] == "conflict"


def test_an_unexpected_error_is_a_plain_500_and_the_stack_goes_to_the_log(
    probe: Client, logs: list[dict[str, Any]]
) -> None:
    response = probe.http.get("/crash")
    assert response.status_code == 500
    error = response.json_body["error"]
    assert error["code"] == "internal_error"
    assert "secret internals" not in response.body.decode()
    assert "Traceback" not in response.body.decode()

    [crash_log] = [entry for entry in logs if "exception" in entry]
    assert "secret internals" in crash_log["exception"]
    assert crash_log["request_id"] == error["request_id"]


def test_a_body_that_is_not_json_is_a_400(probe: Client) -> None:
    response = probe.http.post("/bad-json", body=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json_body["error"]["code"] == "invalid_request"


def test_every_request_is_logged_with_id_route_status_and_latency(client: Client, logs: list[dict[str, Any]]) -> None:
    response = client.http.get("/health")
    [access] = [entry for entry in logs if entry["message"] == "request"]
    assert access["request_id"] == response.headers[REQUEST_ID_HEADER]
    assert access["route"] == "GET /health"
    assert access["status"] == 200
    assert access["latency_ms"] >= 0
    assert access["level"] == "INFO"


def test_requests_are_measured_as_emf(
    client: Client, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    client.http.get("/health")
    [emf] = _emf(capsys)
    directive = emf["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "ServerlessDataPlatform"
    assert {metric["Name"] for metric in directive["Metrics"]} == {"Requests", "Latency", "ServerErrors"}
    assert emf["route"] == "GET /health"
    assert emf["Requests"] in (1.0, [1.0])


@pytest.mark.parametrize(("path", "server_errors"), [("/crash", 1.0), ("/conflict", 0.0)])
def test_each_answer_counts_against_the_function_version_that_gave_it(
    probe: Client, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, path: str, server_errors: float
) -> None:
    """What a release's rollback alarms watch: the 5xx answers and latency of one version alone."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "7")
    capsys.readouterr()
    probe.http.get(path)
    [emf] = _emf(capsys)
    [directive] = emf["_aws"]["CloudWatchMetrics"]
    assert [sorted(dimensions) for dimensions in directive["Dimensions"]] == [
        ["route", "service"],
        ["function_version", "service"],
    ]
    assert {metric["Name"] for metric in directive["Metrics"]} >= {"ServerErrors", "Latency"}
    assert (emf["service"], emf["function_version"]) == ("sdp", "7")
    assert emf["ServerErrors"] in (server_errors, [server_errors])


def _emf(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
