"""What X-Ray records of a request, an ingest and a query: the segments the SDK would send to the
daemon, kept by an emitter of the test's own."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib import observability
from tests.api import run_query, upload_direct
from tests.ingestor import Ingestor


class _Kept:
    """X-Ray's emitter, keeping each segment it would send."""

    def __init__(self) -> None:
        self.segments: list[dict[str, Any]] = []

    def send_entity(self, entity: Any) -> None:
        self.segments.append(json.loads(entity.serialize()))

    def set_daemon_address(self, address: str) -> None:
        """Nothing is sent anywhere."""


@pytest.fixture
def traces(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[[], Any]], dict[str, Any]]]:
    """`traces(work)`: the segment X-Ray records around `work`, as Lambda's own segment holds a
    function's subsegments."""
    from aws_xray_sdk.core import xray_recorder

    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", "127.0.0.1:2000")  # as Lambda sets it with tracing on
    # The SDK's patch of botocore would stay for every later test of this process; these tests look
    # at the app's own subsegments only.
    monkeypatch.setattr(observability, "_botocore_patched", True)
    kept, previous = _Kept(), xray_recorder.emitter
    observability._recorder()
    xray_recorder.configure(emitter=kept, sampling=False, streaming_threshold=100_000)

    def traced(work: Callable[[], Any]) -> dict[str, Any]:
        xray_recorder.begin_segment("sdp-test")
        try:
            work()
        finally:
            xray_recorder.end_segment()
        return kept.segments[-1]

    try:
        yield traced
    finally:
        xray_recorder.clear_trace_entities()
        xray_recorder.configure(emitter=previous, sampling=True, streaming_threshold=30)


def _named(segment: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """Every subsegment of that name, at any depth."""
    found = []
    for sub in segment.get("subsegments", []):
        found += [sub] if sub["name"] == name else []
        found += _named(sub, name)
    return found


def _children(subsegment: dict[str, Any]) -> list[str]:
    return [sub["name"] for sub in subsegment.get("subsegments", [])]


def test_every_request_is_annotated_with_its_route_status_and_tenant(ingestor: Ingestor, traces: Any) -> None:
    token = ingestor.account.id_token
    segment = traces(lambda: ingestor.api.call("GET", "/files", token=token))
    [request] = _named(segment, "request")
    assert request["annotations"] == {
        "route": "GET /files",
        "status": 200,
        "tenant_id": ingestor.account.tenant_id,
    }

    segment = traces(lambda: ingestor.api.call("GET", "/files/01JDXR7B2K0000000000000000", token=token))
    [request] = _named(segment, "request")
    assert (request["annotations"]["status"], request["annotations"]["route"]) == (404, "GET /files/{file_id}")

    [request] = _named(traces(lambda: ingestor.api.call("GET", "/health")), "request")
    assert request["annotations"] == {"route": "GET /health", "status": 200}  # no caller, no tenant


def test_an_ingest_read_whole_has_a_subsegment_per_phase(ingestor: Ingestor, traces: Any) -> None:
    data = b'{"region": "north", "amount": 10}\n{"region": "south", "amount": 5}\n'
    reply = upload_direct(ingestor.api, ingestor.account, "sales.jsonl", data, "application/json")
    assert reply.status == 201, reply
    file_id = reply.body["file_id"]
    segment = traces(ingestor.drain)

    [ingest] = _named(segment, "ingest")
    expected = {"tenant_id": ingestor.account.tenant_id, "file_id": file_id, "size": len(data)}
    assert ingest["annotations"] == expected | {"format": "jsonl"}
    phases = _children(ingest)
    assert [name for name in phases if name in ("read and checksum", "detect", "convert", "publish")] == [
        "read and checksum",
        "detect",
        "convert",
        "publish",
    ]
    for phase in ("detect", "convert"):
        [sub] = _named(ingest, phase)
        assert sub["annotations"] == expected | {"format": "jsonl"}
    [read] = _named(ingest, "read and checksum")
    assert read["annotations"] == expected | {"converted_while_reading": False}
    assert ingestor.record(file_id)["status"] == "READY"


def test_a_csv_is_converted_while_it_is_read(ingestor: Ingestor, traces: Any) -> None:
    reply = upload_direct(ingestor.api, ingestor.account, "sales.csv", b"a,b\n1,2\n")
    assert reply.status == 201, reply
    [ingest] = _named(traces(ingestor.drain), "ingest")
    assert ingest["annotations"]["format"] == "csv"
    assert _children(ingest)[0] == "read and checksum"
    assert "publish" in _children(ingest)
    [read] = _named(ingest, "read and checksum")
    assert read["annotations"]["converted_while_reading"] is True


def test_a_query_has_a_subsegment_for_the_guard_and_one_for_the_engine(ingestor: Ingestor, traces: Any) -> None:
    ingestor.upload("sales.csv", b"region,amount\nnorth,10\n")
    answers: list[dict[str, Any]] = []
    segment = traces(lambda: answers.append(run_query(ingestor.api, ingestor.account, "SELECT count(*) FROM sales")))
    assert answers[0]["rows"] == [[1]]
    [submit] = [r for r in _named(segment, "request") if r["annotations"]["route"] == "POST /queries"]
    assert [name for name in _children(submit) if name in ("sql guard", "query engine")] == [
        "sql guard",
        "sql guard",
        "query engine",
    ]
    [engine] = _named(submit, "query engine")
    assert engine["annotations"]["engine"] == "LocalEngine"
