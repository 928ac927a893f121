"""The ingest Lambda: S3 object-created notifications, delivered through the ingest queue."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from chalice.app import SQSEvent

from chalicelib.ingest.events import object_created_records, raw_upload
from chalicelib.observability import logger
from chalicelib.services import services

bp = Blueprint(__name__)

# `chalice package` needs a queue at import time; template.yaml replaces this ARN with
# !GetAtt IngestQueue.Arn (and so also orders the event source after the queue).
QUEUE_ARN_SET_BY_TEMPLATE = "arn:aws:sqs:us-east-1:000000000000:ingest-queue-set-by-template"


@bp.on_sqs_message(queue_arn=QUEUE_ARN_SET_BY_TEMPLATE, batch_size=10, name="ingest")
def ingest(event: SQSEvent) -> dict[str, Any]:
    """Handle each message on its own and report the failed ones (ReportBatchItemFailures).

    A failed message returns to the queue after its visibility timeout and is dead-lettered
    after the redrive count; the others in the batch are not run again.
    """
    # Loaded here, not at import: the API function shares this module and never needs it.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    return process_partial_response(
        event=event.to_dict(),
        record_handler=handle_message,
        processor=BatchProcessor(event_type=EventType.SQS),
        context=event.context,
    )


def handle_message(record: Any) -> None:
    """One SQS message (Powertools passes it as `record`): each S3 ObjectCreated record in it."""
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
                platform.for_tenant(upload.tenant_id).ingest.object_created(upload, receive_count)
    except Exception:
        logger.exception("message failed", extra={"receive_count": receive_count})
        raise
    finally:
        logger.thread_safe_clear_keys()
