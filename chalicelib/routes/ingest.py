"""The ingest Lambdas: S3 object-created notifications through the ingest queue, and the messages
that queue gives up on through its dead-letter queue."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from chalice.app import SQSEvent

from chalicelib.ingest.events import MalformedMessage, object_created_records, raw_upload
from chalicelib.ingest.limits import Budget
from chalicelib.observability import MetricUnit, logger, metrics
from chalicelib.services import services

bp = Blueprint(__name__)

# `chalice package` needs a queue at import time; template.yaml replaces these ARNs with
# !GetAtt IngestQueue.Arn and !GetAtt IngestDeadLetterQueue.Arn (and so also orders each event
# source after its queue).
QUEUE_ARN_SET_BY_TEMPLATE = "arn:aws:sqs:us-east-1:000000000000:ingest-queue-set-by-template"
DEAD_LETTER_QUEUE_ARN_SET_BY_TEMPLATE = "arn:aws:sqs:us-east-1:000000000000:ingest-dlq-set-by-template"


# One message per invocation: each file has the whole invocation's time to itself, and no file
# waits behind another's (docs/architecture.md, "One file at a time").
@bp.on_sqs_message(queue_arn=QUEUE_ARN_SET_BY_TEMPLATE, batch_size=1, name="ingest")
def ingest(event: SQSEvent) -> dict[str, Any]:
    """Handle each message on its own and report the failed ones (ReportBatchItemFailures).

    A failed message returns to the queue after its visibility timeout and is dead-lettered
    after the redrive count.
    """
    return _each_message(event, handle_message)


def handle_message(record: Any, lambda_context: Any) -> None:
    """One SQS message (Powertools passes it as `record`): each S3 ObjectCreated record in it,
    within the time the invocation has left (`lambda_context`)."""
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(message_id=record.message_id)
    receive_count = int(record.attributes.approximate_receive_count)
    try:
        for created in object_created_records(record.body):
            logger.info(
                "object received",
                extra={
                    "bucket": created.bucket,
                    "key": created.key,
                    "size": created.s3.object.size,
                    "etag": created.s3.object.etag,
                    "event_name": created.event_name,
                },
            )
            platform = services()
            upload = raw_upload(created, platform.settings.data_bucket)
            if upload is not None:  # everything ingest does for it, it does with its tenant's session
                budget = Budget(
                    lambda_context.get_remaining_time_in_millis,
                    limit_seconds=platform.settings.ingest_timeout_seconds,
                    margin_seconds=platform.settings.ingest_time_margin_seconds,
                )
                platform.for_tenant(upload.tenant_id).ingest.object_created(upload, receive_count, budget)
    except Exception:
        logger.exception("message failed", extra={"receive_count": receive_count})
        with metrics(per_version=True) as recorder:  # delivered again; counted against this version
            recorder.add_metric(name="IngestFailures", unit=MetricUnit.Count, value=1)
        raise
    finally:
        logger.thread_safe_clear_keys()


@bp.on_sqs_message(queue_arn=DEAD_LETTER_QUEUE_ARN_SET_BY_TEMPLATE, batch_size=10, name="ingest_dead_letters")
def ingest_dead_letters(event: SQSEvent) -> dict[str, Any]:
    """Settle the messages the ingest queue gave up on: their files end FAILED, never left waiting."""
    return _each_message(event, settle_dead_letter)


def settle_dead_letter(record: Any) -> None:
    """One dead-lettered message: each upload it names ends FAILED `ingest_failed`, unless a newer
    version or another delivery settles it. A failure here is retried by the dead-letter queue."""
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(message_id=record.message_id)
    try:
        try:
            created_records = object_created_records(record.body)
        except MalformedMessage:
            # Nothing to settle and nothing a retry would change: kept in the log for an operator.
            logger.error("dead letter is not an S3 notification", extra={"body": record.body[:4096]})
            created_records = []
        for created in created_records:
            platform = services()
            upload = raw_upload(created, platform.settings.data_bucket)
            if upload is not None:
                logger.warning("dead letter received", extra={"key": created.key, "etag": created.s3.object.etag})
                platform.for_tenant(upload.tenant_id).ingest.dead_lettered(upload, created.s3.object.etag)
        with metrics() as recorder:  # what the dead-letter alarm counts, once the message is settled
            recorder.add_metric(name="IngestDeadLettered", unit=MetricUnit.Count, value=1)
    except Exception:
        logger.exception("dead letter not settled")
        raise
    finally:
        logger.thread_safe_clear_keys()


def _each_message(event: SQSEvent, handler: Any) -> dict[str, Any]:
    # Loaded here, not at import: the API function shares this module and never needs it.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    return process_partial_response(
        event=event.to_dict(),
        record_handler=handler,
        processor=BatchProcessor(event_type=EventType.SQS),
        context=event.context,
    )
