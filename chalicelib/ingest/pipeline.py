"""One object, from its S3 notification to a READY table or a FAILED record with a reason.

Idempotent on the object itself, not on the message: the record remembers which object version
(ETag) it holds and a claim token, so a duplicate or repeated notification, both of a multipart
upload's, or one that arrives late, finds that version claimed or done and changes nothing. A
claim is a lease: an attempt that died mid-file is taken over by the queue's retry once the lease
runs out. The queue's last delivery ends FAILED `ingest_failed` if it fails too.
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import re
import shutil
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from chalicelib.catalog import Catalog
from chalicelib.files.objects import ObjectStore, StoredObject, curated_prefix, raw_key
from chalicelib.files.records import FileRecord, IngestClaim, Status, Upload, UploadMethod
from chalicelib.files.store import FileStore
from chalicelib.ingest.convert import Converted, Converter, Limits
from chalicelib.ingest.detect import GZIP_MAGIC, SAMPLE_BYTES, Detected, detect
from chalicelib.ingest.events import ObjectCreated
from chalicelib.ingest.naming import candidate_table_names, table_base_name
from chalicelib.ingest.problems import FileProblem
from chalicelib.observability import MetricUnit, logger, metrics
from chalicelib.settings import Settings
from chalicelib.tenancy.store import epoch_of, now

RAW_KEY = re.compile(r"^tenants/(?P<tenant>[0-9A-Za-z_-]{1,64})/raw/(?P<file>[0-9A-Za-z_-]{1,64})$")
CURATED_FILE = "part-0.parquet"
# Small enough to stay in the CPU cache between hashing and writing it: 8 MiB chunks were
# several times slower to write (bench/ingest.py).
READ_CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True)
class Fetched:
    """One streaming read of the object: where its bytes now are, and what was seen on the way."""

    path: Path
    size: int
    sha256: str
    head: bytes  # the first SAMPLE_BYTES, decompressed if gzip
    tail: bytes
    compression: str | None


class Ingest:
    def __init__(self, records: FileStore, objects: ObjectStore, catalog: Catalog, settings: Settings) -> None:
        self._records = records
        self._objects = objects
        self._catalog = catalog
        self._settings = settings

    def object_created(self, created: ObjectCreated, receive_count: int) -> None:
        """Ingest the object a notification names; a FileProblem ends it FAILED, anything else is
        raised so that the queue delivers the message again."""
        location = RAW_KEY.match(created.key)
        if created.bucket != self._settings.data_bucket or location is None:
            logger.info("not a raw upload: skipped", extra={"bucket": created.bucket, "key": created.key})
            return
        tenant_id, file_id = location["tenant"], location["file"]
        logger.thread_safe_append_keys(tenant_id=tenant_id, file_id=file_id)
        stored = self._objects.head(created.key)
        if stored is None:
            logger.info("object gone before ingest: skipped")
            return
        record = self._records.get(tenant_id, file_id) or self._record_unannounced(tenant_id, file_id, stored)
        if record is None:
            logger.warning("object of no known tenant: skipped")
            return
        claim = IngestClaim(
            etag=stored.etag,
            version_id=stored.version_id,
            token=uuid.uuid4().hex,
            lease_until=int(time.time()) + self._settings.ingest_lease_seconds,
            final=receive_count >= self._settings.ingest_max_receive_count,
        )
        claimed = self._records.claim(record, claim, stored.size)
        if claimed is None:
            logger.info("already ingested, being ingested or being deleted: skipped", extra={"etag": stored.etag})
            return
        self._ingest(claimed, stored)

    def _record_unannounced(self, tenant_id: str, file_id: str, stored: StoredObject) -> FileRecord | None:
        created = now()
        record = FileRecord(
            tenant_id=tenant_id,
            file_id=file_id,
            name=file_id,
            owner_id="",
            size=stored.size,
            content_type=stored.content_type,
            status=Status.UPLOADING,
            created_at=created,
            updated_at=created,
            upload=Upload(UploadMethod.DIRECT),
        )
        logger.warning("object uploaded around the API: recording it")
        return self._records.record_unannounced(record) or self._records.get(tenant_id, file_id)

    def _ingest(self, claimed: FileRecord, stored: StoredObject) -> None:
        started = time.monotonic()
        detected: Detected | None = None
        found = claimed  # what is known of the file so far: its hash once read, its format once seen
        scratch: Path | None = None
        try:
            scratch = Path(tempfile.mkdtemp(prefix=f"ingest-{claimed.file_id}-", dir=self._settings.scratch_dir))
            key = raw_key(claimed.tenant_id, claimed.file_id)
            fetched = fetch(self._objects.chunks(key, stored.version_id, READ_CHUNK_BYTES), scratch, stored.size)
            found = replace(found, sha256=fetched.sha256, compression=fetched.compression)
            detected = detect(fetched.head, fetched.tail, fetched.compression)
            found = replace(found, format=detected.format)
            converted = self._convert(fetched, detected, scratch)
            self._publish(claimed, fetched, detected, converted, scratch)
            self._measure(detected, "FilesIngested", started, claimed, fetched.size, converted.row_count)
        except FileProblem as problem:
            logger.info("file refused", extra={"error_code": problem.code, "reason": problem.message})
            self._refuse(claimed, problem.code, problem.message, found)
            self._measure(detected, "FilesFailed", started, claimed)
        except Exception:
            if claimed.ingest and claimed.ingest.final:
                self._refuse(claimed, "ingest_failed", "The file could not be ingested after several tries.", found)
                self._measure(detected, "FilesFailed", started, claimed)
            else:
                self._records.release(claimed)
            raise
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)

    def _convert(self, fetched: Fetched, detected: Detected, scratch: Path) -> Converted:
        limits = Limits(memory=self._settings.ingest_memory_limit, threads=self._settings.ingest_threads or None)
        return convert(fetched, detected, scratch, limits)

    def _publish(
        self, claimed: FileRecord, fetched: Fetched, detected: Detected, converted: Converted, scratch: Path
    ) -> None:
        """Store the curated copy, name the table, catalog it, and mark the record READY; if the
        claim was lost meanwhile (deleted, or a newer version), undo all of it."""
        tenant_id, file_id = claimed.tenant_id, claimed.file_id
        self._objects.delete_all_versions(curated_prefix(tenant_id, file_id))
        self._objects.upload(
            scratch / CURATED_FILE, curated_prefix(tenant_id, file_id) + CURATED_FILE, "application/vnd.apache.parquet"
        )
        base = claimed.table or table_base_name(claimed.name)
        table = self._records.take_table_name(tenant_id, file_id, candidate_table_names(base))
        self._catalog.register(tenant_id, table, file_id, converted.columns)
        ready = replace(
            claimed,
            status=Status.READY,
            format=detected.format,
            compression=detected.compression,
            sha256=fetched.sha256,
            row_count=converted.row_count,
            columns=[column.view() for column in converted.columns],
            table=table,
            updated_at=now(),
        )
        if not self._records.finish(claimed, ready):
            logger.info("claim lost while ingesting: undoing")
            self._forget_table(claimed, table)
            return
        logger.info(
            "file ready",
            extra={"table": table, "format": detected.format, "rows": converted.row_count, "note": detected.note},
        )

    def _refuse(self, claimed: FileRecord, code: str, message: str, found: FileRecord) -> None:
        """FAILED with a reason; a table an earlier version had is no longer offered."""
        if self._records.fail(claimed, code, message, found) and claimed.table:
            self._forget_table(claimed, claimed.table)

    def _forget_table(self, claimed: FileRecord, table: str) -> None:
        self._catalog.drop(claimed.tenant_id, table, claimed.file_id)
        self._records.release_table_name(claimed.tenant_id, table, claimed.file_id)
        self._objects.delete_all_versions(curated_prefix(claimed.tenant_id, claimed.file_id))

    def _measure(
        self,
        detected: Detected | None,
        outcome: str,
        started: float,
        claimed: FileRecord,
        size: int | None = None,
        rows: int | None = None,
    ) -> None:
        with metrics(format=detected.format if detected else "unknown") as recorder:
            recorder.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
            recorder.add_metric(
                name="IngestDuration", unit=MetricUnit.Milliseconds, value=(time.monotonic() - started) * 1000
            )
            if size is not None:
                recorder.add_metric(name="IngestBytes", unit=MetricUnit.Bytes, value=size)
            if rows is not None:
                recorder.add_metric(name="IngestRows", unit=MetricUnit.Count, value=rows)
            if outcome == "FilesIngested":
                waited = time.time() - epoch_of(claimed.created_at)
                recorder.add_metric(name="UploadToReady", unit=MetricUnit.Milliseconds, value=waited * 1000)


def fetch(chunks: Iterable[bytes], scratch: Path, expected_size: int = 0) -> Fetched:
    """Stream an object's bytes to local disk once, hashing them and keeping the first and last
    bytes on the way (the first decompressed, if gzip). Hashing runs in a second thread, beside
    the disk writes: both let go of the GIL, so on two cores they overlap.

    The file is given its expected size up front: writing into allocated blocks is several times
    faster, and a file the scratch disk cannot hold is known before a byte is written.
    """
    path = scratch / "source"
    digest = hashlib.sha256()
    pending: queue.Queue[bytes | None] = queue.Queue(maxsize=16)  # a few MiB in memory at most

    def hash_chunks() -> None:
        while (chunk := pending.get()) is not None:
            digest.update(chunk)

    hasher = threading.Thread(target=hash_chunks, name="sha256", daemon=True)
    hasher.start()
    head = bytearray()
    tail = b""
    size = 0
    try:
        with path.open("wb") as sink:
            _allocate(sink.fileno(), expected_size)
            for chunk in chunks:
                pending.put(chunk)
                sink.write(chunk)
                size += len(chunk)
                if len(head) < SAMPLE_BYTES:
                    head += chunk[: SAMPLE_BYTES - len(head)]
                tail = (tail + chunk[-8:])[-8:]
            sink.truncate(size)
    finally:
        pending.put(None)
        hasher.join()
    compression = None
    sample = bytes(head)
    if sample.startswith(GZIP_MAGIC):
        compression = "gzip"
        sample = _gunzip_start(path)
    return Fetched(path, size, digest.hexdigest(), sample, tail, compression)


def _allocate(descriptor: int, size: int) -> None:
    if size <= 0:
        return
    try:
        os.posix_fallocate(descriptor, 0, size)
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        raise FileProblem(
            "file_too_large", f"The file ({size} bytes) is larger than the ingest's scratch space can hold."
        ) from None


def convert(fetched: Fetched, detected: Detected, scratch: Path, limits: Limits) -> Converted:
    """The typed read of a fetched file into `scratch`/part-0.parquet, DuckDB spilling into `scratch`."""
    (scratch / "spill").mkdir(exist_ok=True)
    converter = Converter(scratch, limits)
    try:
        return converter.convert(fetched.path, detected, scratch / CURATED_FILE)
    finally:
        converter.close()


def _gunzip_start(path: Path) -> bytes:
    """The first SAMPLE_BYTES of a gzip file's content; a corrupt stream is the file's problem."""
    inflater = zlib.decompressobj(wbits=31)
    out = bytearray()
    try:
        with path.open("rb") as source:
            while len(out) < SAMPLE_BYTES and (chunk := source.read(256 * 1024)):
                out += inflater.decompress(inflater.unconsumed_tail + chunk, SAMPLE_BYTES - len(out))
    except zlib.error as error:
        raise FileProblem("malformed_file", f"The gzip data is corrupt: {error}.") from None
    return bytes(out)
