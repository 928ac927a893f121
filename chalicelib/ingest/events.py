"""S3 event notifications as they arrive in an SQS message body."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.errors import AppError
from chalicelib.ids import ID
from chalicelib.observability import logger

# Only ids the API can name again (GET, DELETE /files/{id}) become records.
RAW_KEY = re.compile(rf"^tenants/(?P<tenant>[0-9A-Za-z_-]{{1,64}})/raw/(?P<file>{ID.pattern})$")


class MalformedMessage(AppError):
    """An SQS message that is not an S3 event notification; retried, then dead-lettered."""

    code = "malformed_message"
    message = "The message is not an S3 event notification."


class _Lenient(BaseModel):
    # AWS adds fields to its events over time; read what we need, ignore the rest.
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class _Bucket(_Lenient):
    name: str


class _Object(_Lenient):
    key: str
    size: int = 0
    etag: str = Field(default="", alias="eTag")
    version_id: str | None = Field(default=None, alias="versionId")
    sequencer: str | None = None

    @field_validator("key")
    @classmethod
    def _decode_key(cls, key: str) -> str:
        # S3 URL-encodes keys in notifications ('/' as %2F, ' ' as '+').
        return unquote_plus(key)


class _S3(_Lenient):
    bucket: _Bucket
    object: _Object


class ObjectCreated(_Lenient):
    """One S3 ObjectCreated record."""

    event_name: str = Field(alias="eventName")
    event_time: str = Field(alias="eventTime")
    s3: _S3

    @property
    def bucket(self) -> str:
        return self.s3.bucket.name

    @property
    def key(self) -> str:
        return self.s3.object.key


class _Notification(_Lenient):
    records: list[ObjectCreated] = Field(alias="Records")


def object_created_records(body: str) -> list[ObjectCreated]:
    """The ObjectCreated records in one SQS message body.

    S3 sends an `s3:TestEvent` when a notification is configured: it carries no records.
    Other event types are not subscribed to and are skipped should they arrive.
    """
    try:
        document = json.loads(body)
        if isinstance(document, dict) and document.get("Event") == "s3:TestEvent":
            return []
        notification = _Notification.model_validate(document)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError too
        raise MalformedMessage(message=f"The message is not an S3 event notification: {exc}") from exc
    return [record for record in notification.records if record.event_name.startswith("ObjectCreated:")]


@dataclass(frozen=True)
class RawUpload:
    """A tenant's upload, as its key names it: the tenant and the file come from the key only."""

    tenant_id: str
    file_id: str
    key: str


def raw_upload(created: ObjectCreated, data_bucket: str) -> RawUpload | None:
    """The upload a notification is about, or None (logged) for any other object."""
    location = RAW_KEY.match(created.key)
    if created.bucket != data_bucket or location is None:
        logger.info("not a raw upload: skipped", extra={"bucket": created.bucket, "key": created.key})
        return None
    return RawUpload(location["tenant"], location["file"], created.key)
