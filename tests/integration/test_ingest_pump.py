"""S3 → SQS → pump → the ingest handler Lambda would run, and the retry/dead-letter path."""

from __future__ import annotations

from typing import Any

import pytest

from localplatform.pump import IngestPump
from localplatform.resources import LocalResources
from localplatform.template import load_template, resource_properties


@pytest.fixture
def resources(local_resources: LocalResources, platform_services: Any) -> LocalResources:
    """The local resources, with the app's services installed on them: the handler ingests."""
    return local_resources


def _pump(aws: Any, resources: LocalResources, handler: Any) -> IngestPump:
    return IngestPump(
        aws.client("sqs"),
        resources.ingest_queue.url,
        resources.ingest_queue.arn,
        handler,
        region="us-east-1",
        wait_seconds=0,
        retry_delay_seconds=0,
    )


def _drain(pump: IngestPump) -> None:
    while pump.poll_once():
        pass


def test_an_uploaded_object_reaches_the_ingest_handler(
    aws: Any, resources: LocalResources, app: Any, logs: list[dict[str, Any]]
) -> None:
    aws.client("s3").put_object(Bucket=resources.data_bucket, Key="tenants/t1/raw/f 1", Body=b"a,b\n1,2\n")
    aws.client("s3").put_object(Bucket=resources.data_bucket, Key="elsewhere/f2", Body=b"x")
    _drain(_pump(aws, resources, app.handler_map["ingest"]))

    received = [entry for entry in logs if entry["message"] == "object received"]
    assert [entry["key"] for entry in received] == ["tenants/t1/raw/f 1"]
    assert received[0]["size"] == 8
    assert _depth(aws, resources.ingest_queue.url) == 0
    assert _depth(aws, resources.ingest_dlq.url) == 0


def test_a_failing_message_is_retried_then_dead_lettered(
    aws: Any, resources: LocalResources, app: Any, logs: list[dict[str, Any]]
) -> None:
    sqs = aws.client("sqs")
    _drain(_pump(aws, resources, app.handler_map["ingest"]))  # the s3:TestEvent
    sqs.send_message(QueueUrl=resources.ingest_queue.url, MessageBody="not an S3 notification")
    _drain(_pump(aws, resources, app.handler_map["ingest"]))

    max_receive_count = resource_properties(load_template(), "IngestQueue")["RedrivePolicy"]["maxReceiveCount"]
    failures = [entry for entry in logs if entry["message"] == "message failed"]
    assert [entry["receive_count"] for entry in failures] == list(range(1, max_receive_count + 1))
    dead = sqs.receive_message(QueueUrl=resources.ingest_dlq.url)["Messages"]
    assert [message["Body"] for message in dead] == ["not an S3 notification"]
    assert _depth(aws, resources.ingest_queue.url) == 0


def test_only_failed_messages_return_to_the_queue(aws: Any, resources: LocalResources) -> None:
    sqs = aws.client("sqs")
    _drain(_pump(aws, resources, lambda event, context: {"batchItemFailures": []}))  # the s3:TestEvent
    for body in ("good-1", "bad", "good-2"):
        sqs.send_message(QueueUrl=resources.ingest_queue.url, MessageBody=body)
    seen: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.extend(record["body"] for record in event["Records"])
        failed = [record for record in event["Records"] if record["body"] == "bad"]
        return {"batchItemFailures": [{"itemIdentifier": record["messageId"]} for record in failed]}

    pump = _pump(aws, resources, handler)
    pump.poll_once()
    pump.poll_once()
    assert sorted(seen) == ["bad", "bad", "good-1", "good-2"]


def test_a_handler_that_raises_fails_the_whole_batch(aws: Any, resources: LocalResources) -> None:
    sqs = aws.client("sqs")
    _drain(_pump(aws, resources, lambda event, context: None))  # the s3:TestEvent
    sqs.send_message(QueueUrl=resources.ingest_queue.url, MessageBody="m")
    calls: list[int] = []

    def crashing(event: dict[str, Any], context: Any) -> None:
        calls.append(len(event["Records"]))
        raise RuntimeError("crash")

    pump = _pump(aws, resources, crashing)
    pump.poll_once()
    pump.poll_once()
    assert calls == [1, 1]


def test_the_event_has_lambdas_shape(aws: Any, resources: LocalResources) -> None:
    sqs = aws.client("sqs")
    _drain(_pump(aws, resources, lambda event, context: None))
    sqs.send_message(QueueUrl=resources.ingest_queue.url, MessageBody="m")
    events: list[dict[str, Any]] = []
    _pump(aws, resources, lambda event, context: events.append(event)).poll_once()
    [record] = events[0]["Records"]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == resources.ingest_queue.arn
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert set(record) >= {"messageId", "receiptHandle", "body", "md5OfBody", "awsRegion"}


def _depth(aws: Any, queue_url: str) -> int:
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
