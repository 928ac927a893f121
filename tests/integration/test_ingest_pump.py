"""S3 → SQS → pump → the ingest handler Lambda would run, and the retry/dead-letter path."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from localplatform.pump import Invocation, QueuePump, function_pump
from localplatform.resources import LocalResources
from localplatform.template import load_template, resource_properties


@pytest.fixture
def resources(local_resources: LocalResources, platform_services: Any) -> LocalResources:
    """The local resources, with the app's services installed on them: the handler ingests."""
    return local_resources


def _pump(aws: Any, resources: LocalResources, handler: Any) -> QueuePump:
    """A pump on the ingest queue handing batches of up to 10 messages to `handler`."""
    return QueuePump(
        aws.client("sqs"),
        resources.ingest_queue.url,
        resources.ingest_queue.arn,
        handler,
        function_name="ingest",
        region="us-east-1",
        batch_size=10,
        wait_seconds=0,
        retry_delay_seconds=0,
    )


def _function_pump(aws: Any, resources: LocalResources, app: Any) -> QueuePump:
    """The ingest function's own pump, as the local platform runs it."""
    queue = resources.ingest_queue
    return function_pump(
        app,
        "ingest",
        aws.client("sqs"),
        queue.url,
        queue.arn,
        region="us-east-1",
        wait_seconds=0,
        retry_delay_seconds=0,
    )


def _drain(pump: QueuePump) -> None:
    while pump.poll_once():
        pass


def test_an_uploaded_object_reaches_the_ingest_handler(
    aws: Any, resources: LocalResources, app: Any, logs: list[dict[str, Any]]
) -> None:
    aws.client("s3").put_object(Bucket=resources.data_bucket, Key="tenants/t1/raw/f 1", Body=b"a,b\n1,2\n")
    aws.client("s3").put_object(Bucket=resources.data_bucket, Key="elsewhere/f2", Body=b"x")
    _drain(_function_pump(aws, resources, app))

    received = [entry for entry in logs if entry["message"] == "object received"]
    assert [entry["key"] for entry in received] == ["tenants/t1/raw/f 1"]
    assert received[0]["size"] == 8
    assert _depth(aws, resources.ingest_queue.url) == 0
    assert _depth(aws, resources.ingest_dlq.url) == 0


def test_a_failing_message_is_retried_then_dead_lettered(
    aws: Any, resources: LocalResources, app: Any, logs: list[dict[str, Any]]
) -> None:
    sqs = aws.client("sqs")
    _drain(_function_pump(aws, resources, app))  # the s3:TestEvent
    sqs.send_message(QueueUrl=resources.ingest_queue.url, MessageBody="not an S3 notification")
    _drain(_function_pump(aws, resources, app))

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


def test_a_long_invocation_holds_up_only_its_own_worker(aws: Any, resources: LocalResources) -> None:
    """Two workers on one queue, as the local platform runs the ingest function: while one is busy
    with a slow message, the other takes the next."""
    sqs = aws.client("sqs")
    _drain(_pump(aws, resources, lambda event, context: None))  # the s3:TestEvent
    slow_started, release = threading.Event(), threading.Event()
    handled: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        [record] = event["Records"]
        if record["body"] == "slow":
            slow_started.set()
            release.wait(30)
        handled.append(record["body"])

    pump = QueuePump(
        sqs,
        resources.ingest_queue.url,
        resources.ingest_queue.arn,
        handler,
        function_name="ingest",
        region="us-east-1",
        batch_size=1,
        wait_seconds=0,
    )
    stop = threading.Event()
    workers = [threading.Thread(target=pump.run, args=(stop,)) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        sqs.send_message(QueueUrl=resources.ingest_queue.url, MessageBody="slow")
        assert slow_started.wait(10)
        sqs.send_message(QueueUrl=resources.ingest_queue.url, MessageBody="fast")
        deadline = time.monotonic() + 10
        while "fast" not in handled and time.monotonic() < deadline:
            time.sleep(0.01)
        assert handled == ["fast"]  # while the slow one is still being handled
    finally:
        release.set()
        stop.set()
        for worker in workers:
            worker.join(10)
    assert sorted(handled) == ["fast", "slow"]


def test_an_invocation_has_no_time_left_once_the_platform_stops() -> None:
    stop = threading.Event()
    invocation = Invocation("ingest", 3008, 900_000, stop)
    assert 890_000 < invocation.get_remaining_time_in_millis() <= 900_000
    stop.set()
    assert invocation.get_remaining_time_in_millis() == 0
