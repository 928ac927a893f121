"""The local stand-in for Lambda's SQS event source mapping."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from chalice.local import LambdaContext

from chalicelib.observability import logger

Handler = Callable[[dict[str, Any], Any], Any]


class IngestPump:
    """Long-poll the ingest queue and hand each batch to the ingest handler, as Lambda would.

    Messages are deleted only after the handler succeeded for them. A failed message (listed in
    the handler's `batchItemFailures`, or the whole batch if the handler raised) is made visible
    again after `retry_delay_seconds`; SQS moves it to the dead-letter queue once its receive
    count passes the queue's redrive `maxReceiveCount`.
    """

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        handler: Handler,
        *,
        region: str,
        wait_seconds: int = 1,
        batch_size: int = 10,
        retry_delay_seconds: int = 1,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._handler = handler
        self._region = region
        self._wait_seconds = wait_seconds
        self._batch_size = batch_size
        self._retry_delay_seconds = retry_delay_seconds

    def run(self, stop: threading.Event) -> None:
        """Poll until `stop` is set; a poll that fails (the local AWS restarting) is retried."""
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception:
                logger.exception("ingest pump poll failed")
                stop.wait(1)

    def poll_once(self) -> int:
        """Receive one batch (waiting up to `wait_seconds`), invoke the handler; returns its size."""
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=self._wait_seconds,
            AttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        failed = self._invoke(messages)
        succeeded = [message for message in messages if message["MessageId"] not in failed]
        if succeeded:
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]} for index, m in enumerate(succeeded)],
            )
        for message in messages:
            if message["MessageId"] in failed:
                self._sqs.change_message_visibility(
                    QueueUrl=self._queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=self._retry_delay_seconds,
                )
        return len(messages)

    def _invoke(self, messages: list[dict[str, Any]]) -> set[str]:
        """Call the handler; the ids of the messages it failed."""
        event = {"Records": [self._record(message) for message in messages]}
        context = LambdaContext(function_name="ingest", memory_size=3008, max_runtime_ms=900_000)
        try:
            response = self._handler(event, context)
        except Exception:
            logger.exception("ingest handler failed the whole batch")
            return {message["MessageId"] for message in messages}
        failures = (response or {}).get("batchItemFailures", [])
        return {failure["itemIdentifier"] for failure in failures}

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        """One SQS message in the shape Lambda's event source mapping gives it."""
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            # S3 notifications carry no message attributes.
            "messageAttributes": {},
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self._queue_arn,
            "awsRegion": self._region,
        }
