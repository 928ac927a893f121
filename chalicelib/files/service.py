"""Files: the three ways to upload, reading, downloading and deleting, within a tenant's quota."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from chalicelib.auth.caller import Caller
from chalicelib.auth.roles import Action
from chalicelib.catalog import Catalog
from chalicelib.errors import BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge
from chalicelib.files.objects import ObjectStore, UploadedPart
from chalicelib.files.published import withdraw
from chalicelib.files.records import FileRecord, Status, Upload, UploadMethod, check_name
from chalicelib.files.search import Search
from chalicelib.files.store import FileStore, QuotaExceeded
from chalicelib.files.tables import Table, TableFile, Tables, check_table_name
from chalicelib.ids import is_id, new_id
from chalicelib.keys import raw_key
from chalicelib.settings import Settings
from chalicelib.times import now

MAX_PARTS = 10_000  # S3's limit for one multipart upload
PARTS_PER_RESPONSE = 1_000
# An upload whose URL expired may still be arriving: its record waits this much longer.
ARRIVAL_GRACE_SECONDS = 3600
DEFAULT_CONTENT_TYPE = "application/octet-stream"


class FileNotFound(NotFound):
    code = "file_not_found"
    message = "No file with that id."


class TableNotFound(NotFound):
    code = "table_not_found"
    message = "No table of yours with that name."


@dataclass(frozen=True)
class StartedUpload:
    record: FileRecord
    upload: dict[str, Any]
    expires_in: int


class Files:
    def __init__(
        self, records: FileStore, tables: Tables, objects: ObjectStore, catalog: Catalog, settings: Settings
    ) -> None:
        self._records = records
        self._tables = tables
        self._objects = objects
        self._catalog = catalog
        self._settings = settings

    def upload_direct(
        self, caller: Caller, name: str | None, body: bytes, content_type: str | None, table: str | None = None
    ) -> FileRecord:
        """POST /files: the body is the file; stored at once. Without a name it is named by its id.
        `table`: the table it is added to (made from it if there is none)."""
        caller.require(Action.UPLOAD)
        name = check_name(name) if name is not None else None
        table = check_table_name(table)
        if not body:
            raise BadRequest("empty_file", "The body is empty: send the file's bytes.")
        if len(body) > self._settings.max_direct_upload_bytes:
            raise PayloadTooLarge(
                message=f"POST /files takes up to {self._settings.max_direct_upload_bytes} bytes; use POST /uploads."
            )
        record = self._new_record(caller, name, len(body), content_type, Upload(UploadMethod.DIRECT), table)
        with self._undone_on_failure(record):
            self._objects.put(raw_key(caller.tenant_id, record.file_id), body, record.content_type)
        return record

    def start_upload(
        self, caller: Caller, name: str, size: int, content_type: str | None, table: str | None = None
    ) -> StartedUpload:
        """POST /uploads: a presigned POST, or for a large file presigned multipart part URLs."""
        caller.require(Action.UPLOAD)
        name = check_name(name)
        table = check_table_name(table)
        if not 1 <= size <= self._settings.max_file_bytes:
            raise BadRequest(
                "invalid_size", f"size: give the file's size in bytes, 1 to {self._settings.max_file_bytes}."
            )
        expires_in = self._settings.upload_url_seconds
        key_of = lambda record: raw_key(caller.tenant_id, record.file_id)  # noqa: E731
        if size <= self._settings.multipart_threshold_bytes:
            upload = Upload(UploadMethod.POST, expires_at=int(time.time()) + expires_in + ARRIVAL_GRACE_SECONDS)
            record = self._new_record(caller, name, size, content_type, upload, table)
            with self._undone_on_failure(record):
                url, fields = self._objects.presigned_post(key_of(record), size, record.content_type, expires_in)
            return StartedUpload(record, {"method": "POST", "url": url, "fields": fields}, expires_in)

        part_size = max(self._settings.multipart_part_bytes, math.ceil(size / MAX_PARTS / 2**20) * 2**20)
        upload = Upload(
            UploadMethod.MULTIPART,
            expires_at=int(time.time()) + self._settings.multipart_upload_seconds + ARRIVAL_GRACE_SECONDS,
            part_size=part_size,
            part_count=math.ceil(size / part_size),
        )
        record = self._new_record(caller, name, size, content_type, upload, table)
        with self._undone_on_failure(record):
            upload_id = self._objects.start_multipart(key_of(record), record.content_type)
            record = self._records.update_upload(replace(record, upload=replace(upload, upload_id=upload_id)))
        return StartedUpload(record, self._multipart_view(record, first=1, uploaded={}), expires_in)

    def parts(self, caller: Caller, file_id: str, first: int) -> dict[str, Any]:
        """Part URLs from part `first` on, fresh, and the parts already uploaded: to resume an upload.
        From past the last part, none: as a page past the end of any list."""
        caller.require(Action.UPLOAD)
        record = self._multipart(caller, file_id)
        if self._objects.size_of(raw_key(caller.tenant_id, file_id)) == record.size:
            raise Conflict("upload_finished", "This upload is complete.")
        uploaded = self._objects.uploaded_parts(raw_key(caller.tenant_id, file_id), record.upload.upload_id or "")
        return {"file_id": file_id, "upload": self._multipart_view(record, first, uploaded)}

    def complete(self, caller: Caller, file_id: str, parts: list[tuple[int, str]]) -> FileRecord:
        """POST /uploads/{id}/complete: join the parts, once they add up to the declared size."""
        caller.require(Action.UPLOAD)
        record = self._multipart(caller, file_id, finished_is_fine=True)
        key = raw_key(caller.tenant_id, file_id)
        if record.status is not Status.UPLOADING or self._objects.size_of(key) == record.size:
            return record  # completed already: completing again changes nothing
        numbers = [number for number, _ in parts]
        if numbers != sorted(set(numbers)) or not all(1 <= n <= (record.upload.part_count or 0) for n in numbers):
            raise BadRequest("invalid_parts", "parts: list each part once, in ascending part_number order.")
        uploaded = self._objects.uploaded_parts(key, record.upload.upload_id or "")
        missing = [number for number, etag in parts if _etag(uploaded.get(number)) != _etag_text(etag)]
        if missing:
            raise BadRequest("invalid_parts", f"These parts were not uploaded with those ETags: {missing[:20]}.")
        total = sum(uploaded[number].size for number in numbers)
        if total != record.size:
            raise BadRequest("size_mismatch", f"The parts hold {total} bytes; the upload declared {record.size}.")
        self._objects.complete_multipart(key, record.upload.upload_id or "", parts)
        return record

    def get(self, caller: Caller, file_id: str) -> FileRecord:
        if not is_id(file_id):
            raise FileNotFound()  # not asked of DynamoDB, which refuses keys over 1 KiB
        record = self._current(self._records.get(caller.tenant_id, file_id))
        if record is None:
            raise FileNotFound()
        return record

    def page(
        self, caller: Caller, limit: int, after: str | None, search: Search | None = None
    ) -> tuple[list[FileRecord], str | None]:
        """Newest first (those `search` finds, if given); records being deleted or uploads given
        up are left out."""
        records, last = self._records.page(caller.tenant_id, limit, after, search)
        return [current for record in records if (current := self._current(record)) is not None], last

    def download_url(self, caller: Caller, file_id: str) -> str:
        """A presigned GET of the bytes as uploaded (also of a FAILED file's): of the object version
        ingest took, once it took one, so that bytes sent again to a presigned POST never show."""
        record = self.get(caller, file_id)
        key = raw_key(caller.tenant_id, file_id)
        if record.status is Status.UPLOADING and self._objects.size_of(key) is None:
            raise Conflict("file_not_uploaded", "The file's bytes have not arrived yet.")
        version = record.ingest.version_id if record.ingest else None
        return self._objects.download_url(key, record.name, self._settings.download_url_seconds, version)

    def delete(self, caller: Caller, file_id: str) -> None:
        """Remove the raw object with all its versions, the curated copy, the table and the record.

        The record is flagged first, so an ingest running at the same time stops short and
        cleans up after itself; the record goes last, so a failure midway can be retried.
        """
        record = self._records.get(caller.tenant_id, file_id) if is_id(file_id) else None
        if record is None:
            raise FileNotFound()
        if not (
            caller.can(Action.DELETE_ANY_FILE)
            or (caller.can(Action.DELETE_OWN_FILE) and record.owner_id == caller.user_id)
        ):
            raise Forbidden(message="You may delete only files you uploaded; an admin may delete any.")
        record = self._records.mark_deleting(caller.tenant_id, file_id)
        if record is None:
            raise FileNotFound()
        self._remove(record)

    def tables(
        self, caller: Caller, limit: int, after: str | None, search: Search | None = None
    ) -> tuple[list[Table], str | None]:
        """GET /tables: up to `limit` of the tenant's tables (those `search` finds, if given) in
        name order, after the name `after`."""
        return self._tables.page(caller.tenant_id, limit, after, search)

    def table(self, caller: Caller, name: str) -> Table:
        """GET /tables/{table}: one of the tenant's tables, by name."""
        table = self._tables.shown(caller.tenant_id, name)
        if table is None:
            raise TableNotFound()
        return table

    def table_files(
        self, caller: Caller, table: Table, limit: int, after: str | None
    ) -> tuple[list[TableFile], str | None]:
        """The table's files, oldest upload first."""
        return self._tables.files(caller.tenant_id, table, limit, after)

    def _new_record(
        self,
        caller: Caller,
        name: str | None,
        size: int,
        content_type: str | None,
        upload: Upload,
        table: str | None,
    ) -> FileRecord:
        """Store a new UPLOADING record (named by its id where `name` is None), reserving its quota;
        an over-quota tenant gets 413 first giving back what uploads that never arrived still hold."""
        created, file_id = now(), new_id()
        record = FileRecord(
            tenant_id=caller.tenant_id,
            file_id=file_id,
            name=name or file_id,
            owner_id=caller.user_id,
            size=size,
            content_type=(content_type or DEFAULT_CONTENT_TYPE)[:255],
            status=Status.UPLOADING,
            created_at=created,
            updated_at=created,
            upload=upload,
            target_table=table,
        )
        try:
            self._records.create(record)
        except QuotaExceeded:
            if not self._release_abandoned(caller.tenant_id):
                raise
            self._records.create(record)
        return record

    @contextmanager
    def _undone_on_failure(self, record: FileRecord) -> Iterator[None]:
        """If storing the upload fails, its record goes and its quota comes back."""
        try:
            yield
        except BaseException:
            self._records.delete(record)
            raise

    def _current(self, record: FileRecord | None) -> FileRecord | None:
        """The record as it stands now (reads repair what time has settled); None if it is gone."""
        if record is None or record.deleting or self._removed_if_abandoned(record):
            return None
        claim = record.ingest
        if record.status is Status.PROCESSING and claim and claim.final and claim.lease_until < time.time():
            # The queue's last delivery died mid-file: its message is dead-lettered, nothing retries.
            message = "The file could not be ingested after several tries."
            if self._records.fail(record, "ingest_failed", message, record):
                withdraw(self._tables, self._objects, self._catalog, record.tenant_id, record.file_id)
                return self._records.get(record.tenant_id, record.file_id)
        return record

    def _release_abandoned(self, tenant_id: str) -> int:
        """Remove the tenant's uploads that never arrived, giving their quota back; how many."""
        return sum(self._removed_if_abandoned(record) for record in self._records.uploading(tenant_id))

    def _removed_if_abandoned(self, record: FileRecord) -> bool:
        """Remove the record if it is an upload past its deadline whose bytes never came (reads
        repair: it is given up on the spot, its quota freed); whether it was removed."""
        deadline = record.upload.expires_at
        if record.status is not Status.UPLOADING or deadline is None or deadline > time.time():
            return False
        if self._objects.size_of(raw_key(record.tenant_id, record.file_id)) is not None:
            return False  # the bytes are there; ingest will take it from here
        self._remove(record)
        return True

    def _remove(self, record: FileRecord) -> None:
        if record.upload.method is UploadMethod.MULTIPART and record.upload.upload_id:
            self._objects.abort_multipart(raw_key(record.tenant_id, record.file_id), record.upload.upload_id)
        self._objects.delete_all_versions(raw_key(record.tenant_id, record.file_id), exact=True)
        # A record read as it was flagged deleting, with no ingest claim, was never ingested and
        # never will be (a claim needs the flag unset): it published nothing to take down.
        if record.ingest is not None or not record.deleting:
            withdraw(self._tables, self._objects, self._catalog, record.tenant_id, record.file_id)
        self._records.delete(record)

    def _multipart(self, caller: Caller, file_id: str, *, finished_is_fine: bool = False) -> FileRecord:
        """The caller's multipart upload: one they started, or any of the tenant's for an admin."""
        record = self.get(caller, file_id)
        if record.owner_id != caller.user_id and not caller.can(Action.FINISH_ANY_UPLOAD):
            raise Forbidden(message="Only the member who started this upload, or an admin, may send or complete it.")
        if record.upload.method is not UploadMethod.MULTIPART:
            raise Conflict("not_multipart", "This file was not uploaded in parts.")
        if record.status is not Status.UPLOADING and not finished_is_fine:
            raise Conflict("upload_finished", "This upload has finished.")
        return record

    def _multipart_view(self, record: FileRecord, first: int, uploaded: dict[int, UploadedPart]) -> dict[str, Any]:
        key = raw_key(record.tenant_id, record.file_id)
        upload = record.upload
        count = upload.part_count or 0
        last = min(count, first + PARTS_PER_RESPONSE - 1)
        expires_in = self._settings.upload_url_seconds
        parts = []
        for number in range(first, last + 1):
            size = _part_size(record, number)
            part: dict[str, Any] = {
                "part_number": number,
                "size": size,
                "url": self._objects.part_url(key, upload.upload_id or "", number, size, expires_in),
            }
            if number in uploaded:
                part["etag"] = uploaded[number].etag
            parts.append(part)
        return {
            "method": "MULTIPART",
            "upload_id": upload.upload_id,
            "part_size": upload.part_size,
            "part_count": count,
            "parts": parts,
            "next_part": last + 1 if last < count else None,
        }


def _part_size(record: FileRecord, number: int) -> int:
    """The bytes part `number` holds: `part_size`, and the last part what is left of the size."""
    part_size = record.upload.part_size or 0
    return min(part_size, record.size - (number - 1) * part_size)


def _etag_text(etag: str) -> str:
    return etag.strip().strip('"')


def _etag(part: UploadedPart | None) -> str | None:
    return _etag_text(part.etag) if part else None
