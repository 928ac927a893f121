"""The ingest Lambda, invoked the way Lambda's SQS event source invokes it."""

from __future__ import annotations

import copy
from typing import Any

from chalice.test import Client

from tests.conftest import load_event


def test_an_object_created_message_is_handled(client: Client, logs: list[dict[str, Any]]) -> None:
    response = client.lambda_.invoke("ingest", load_event("sqs_s3_object_created.json"))
    assert response.payload == {"batchItemFailures": []}
    [received] = [entry for entry in logs if entry["message"] == "object received"]
    assert received["key"].endswith("/raw/01JDXR7B2K0000000000000000")
    assert received["message_id"] == "059f36b4-87a3-44ab-83d2-661975830a7d"


def test_the_s3_test_event_is_skipped(client: Client, logs: list[dict[str, Any]]) -> None:
    response = client.lambda_.invoke("ingest", load_event("sqs_s3_test_event.json"))
    assert response.payload == {"batchItemFailures": []}
    assert not [entry for entry in logs if entry["message"] == "object received"]


def test_only_the_failed_message_of_a_batch_is_reported() -> None:
    from app import app

    event = load_event("sqs_s3_object_created.json")
    poison = copy.deepcopy(event["Records"][0])
    poison["messageId"] = "poison-1"
    poison["body"] = "this is not an S3 notification"
    event["Records"].append(poison)
    event["Records"].append(load_event("sqs_s3_test_event.json")["Records"][0])

    with Client(app, stage_name="local") as client:
        response = client.lambda_.invoke("ingest", event)
    assert response.payload == {"batchItemFailures": [{"itemIdentifier": "poison-1"}]}


def test_each_ingest_invocation_takes_one_message_and_dead_letters_have_a_function_of_their_own(app: Any) -> None:
    sources = {source.name: source for source in app.event_sources}
    assert sources["ingest"].batch_size == 1  # each file has the whole invocation's time to itself
    assert sources["ingest_dead_letters"].queue_arn.endswith(":ingest-dlq-set-by-template")
