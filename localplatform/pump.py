"""The local stand-in for Lambda's SQS event source mappings."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalice.app import Chalice
from chalice.cli.factory import CLIFactory
from chalice.local import LambdaContext

from chalicelib.observability import logger

PROJECT_DIR = Path(__file__).resolve().parent.parent

Handler = Callable[[dict[str, Any], Any], Any]


class Invocation(LambdaContext):
    """Lambda's context for one local invocation: its time runs out at the function's timeout,
    or at once when the platform stops, so that a handler working within it stops too."""

    def __init__(self, function_name: str, memory_size: int, timeout_ms: int, stop: threading.Event | None) -> None:
        super().__init__(function_name, memory_size=memory_size, max_runtime_ms=timeout_ms)
        self._stop = stop

    def get_remaining_time_in_millis(self) -> float:
        if self._stop is not None and self._stop.is_set():
            return 0
        return super().get_remaining_time_in_millis()


class QueuePump:
    """Long-poll a queue and hand each batch to its handler, as Lambda's event source mapping would.

    Each thread that runs `run` is one worker: it receives a batch, invokes the handler and settles
    the batch before it polls again, so a long invocation holds up only its own worker (Lambda runs
    invocations side by side in the same way).

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
        function_name: str,
        region: str,
        batch_size: int,
        timeout_seconds: int = 900,
        memory_size: int = 3008,
        wait_seconds: int = 1,
        retry_delay_seconds: int = 1,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._handler = handler
        self._function_name = function_name
        self._region = region
        self._batch_size = batch_size
        self._timeout_ms = timeout_seconds * 1000
        self._memory_size = memory_size
        self._wait_seconds = wait_seconds
        self._retry_delay_seconds = retry_delay_seconds

    def run(self, stop: threading.Event) -> None:
        """One worker: poll until `stop` is set; a poll that fails (the local AWS restarting) is retried."""
        while not stop.is_set():
            try:
                self.poll_once(stop)
            except Exception:
                logger.exception("queue pump poll failed", extra={"function": self._function_name})
                stop.wait(1)

    def poll_once(self, stop: threading.Event | None = None) -> int:
        """Receive one batch (waiting up to `wait_seconds`), invoke the handler; returns its size.
        An invocation's time runs out when `stop` is set."""
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=self._wait_seconds,
            AttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        failed = self._invoke(messages, stop)
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

    def _invoke(self, messages: list[dict[str, Any]], stop: threading.Event | None) -> set[str]:
        """Call the handler; the ids of the messages it failed."""
        event = {"Records": [self._record(message) for message in messages]}
        context = Invocation(self._function_name, self._memory_size, self._timeout_ms, stop)
        try:
            response = self._handler(event, context)
        except Exception:
            logger.exception("handler failed the whole batch", extra={"function": self._function_name})
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


def function_pump(
    app: Chalice,
    function_name: str,
    sqs: Any,
    queue_url: str,
    queue_arn: str,
    *,
    region: str,
    wait_seconds: int = 1,
    retry_delay_seconds: int = 1,
) -> QueuePump:
    """The pump of one of the app's @on_sqs_message functions, as Lambda runs it: its handler, its
    batch size, and its timeout and memory from .chalice/config.json."""
    (source,) = [source for source in app.event_sources if source.name == function_name]
    config = CLIFactory(str(PROJECT_DIR)).create_config_obj(chalice_stage_name="local")
    scoped = config.scope("local", function_name)
    return QueuePump(
        sqs,
        queue_url,
        queue_arn,
        app.handler_map[function_name],
        function_name=function_name,
        region=region,
        batch_size=source.batch_size,
        timeout_seconds=scoped.lambda_timeout,
        memory_size=scoped.lambda_memory_size,
        wait_seconds=wait_seconds,
        retry_delay_seconds=retry_delay_seconds,
    )
