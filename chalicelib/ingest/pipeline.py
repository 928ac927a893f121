"""One object, from its S3 notification to a READY table or a FAILED record with a reason.

Idempotent on the object itself, not on the message: the record remembers which object version
(ETag) it holds and a claim token, so a duplicate or repeated notification, both of a multipart
upload's, or one that arrives late, finds that version claimed or done and changes nothing. A
claim is a lease: an attempt that died mid-file is taken over by the queue's retry once the lease
runs out. The queue's last delivery ends FAILED `ingest_failed` if it fails too, and so does a
file whose message the queue gave up on however its deliveries ended (`dead_lettered`).

Each attempt has a time budget (`Budget`) and the file's limits (`Limits`): a file that needs more
ends FAILED at once with the limit's code, so that no file holds the ingest for longer than it may.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from chalicelib.catalog import Catalog, Publication
from chalicelib.column_bytes import parquet_column_bytes
from chalicelib.columns import ColumnType
from chalicelib.files.objects import ObjectStore, StoredObject
from chalicelib.files.published import withdraw, withdraw_entries
from chalicelib.files.records import FileRecord, IngestClaim, Status, Upload, UploadMethod
from chalicelib.files.store import FileStore
from chalicelib.files.tables import Duplicate, Joined, SchemaMoved, Table, TableFile, Tables, merged_columns
from chalicelib.ingest.convert import ConversionDatabases, Converted
from chalicelib.ingest.detect import Detected
from chalicelib.ingest.events import RawUpload
from chalicelib.ingest.limits import Budget, Limits
from chalicelib.ingest.naming import table_base_name
from chalicelib.ingest.problems import FileProblem
from chalicelib.ingest.stream import PIECE_BYTES, READ_CHUNK_BYTES, Fetched, Seen, read_object
from chalicelib.keys import attempt_prefix, curated_prefix, raw_key
from chalicelib.observability import SERVICE, MetricUnit, logger, metrics, traced
from chalicelib.settings import Settings
from chalicelib.times import epoch_of, now

GIVEN_UP = "The file could not be ingested after several tries."
# Reads of a file whose table's columns changed while it was read, before the queue tries again.
SCHEMA_READS = 3


class Ingest:
    def __init__(
        self,
        records: FileStore,
        tables: Tables,
        objects: ObjectStore,
        catalog: Catalog,
        settings: Settings,
        databases: ConversionDatabases,
        *,
        piece_bytes: int = PIECE_BYTES,
    ) -> None:
        self._records = records
        self._tables = tables
        self._objects = objects
        self._catalog = catalog
        self._settings = settings
        self._databases = databases
        self._piece_bytes = piece_bytes

    def object_created(self, upload: RawUpload, receive_count: int, budget: Budget) -> None:
        """Ingest the upload a notification names within `budget`; a FileProblem ends it FAILED,
        anything else is raised so that the queue delivers the message again."""
        tenant_id, file_id = upload.tenant_id, upload.file_id
        logger.thread_safe_append_keys(tenant_id=tenant_id, file_id=file_id)
        while True:
            stored = self._objects.head(upload.key)
            if stored is None:
                logger.info("object gone before ingest: skipped")
                return
            record = self._records.get(tenant_id, file_id) or self._record_unannounced(tenant_id, file_id, stored)
            if record is None:
                return
            final = receive_count >= self._settings.ingest_max_receive_count
            if record.upload.keeps_first_version:
                first = self._claim_first_version(record, upload.key, stored, final)
                if first is None:
                    return
                claimed, stored = first
                break
            size = _claimed_size(record, stored)
            if size == 0:
                logger.warning("empty object version written over a file: deleted, the file stays as it was")
                self._delete_version(upload.key, stored)
                continue  # the version before it may still need its ingest
            claimed = self._records.claim(record, self._claim(stored, final), size)
            if claimed is None:
                if _refused_for_its_size(record, stored):  # an earlier attempt failed it, then died
                    self._delete_version(upload.key, stored)
                logger.info("already ingested, being ingested or being deleted: skipped", extra={"etag": stored.etag})
                return
            # The claim is for the version current at the HEAD. One that landed since may have had its
            # own attempt's claim taken by this one, so this attempt goes on with that version.
            latest = self._objects.head(upload.key)
            if latest is not None and latest.etag == stored.etag:
                break
            logger.info("a newer version landed while claiming: claiming it instead")
            self._records.release(claimed)
        if stored.size != claimed.size:
            self._refuse_mismatch(claimed, upload.key, stored)
            return
        self._ingest(claimed, stored, budget)

    def _claim_first_version(
        self, record: FileRecord, key: str, stored: StoredObject, final: bool
    ) -> tuple[FileRecord, StoredObject] | None:
        """Claim the version that is the file of an upload that keeps its first version (a
        presigned POST, which can be sent again while it is valid); None if there is nothing to do.

        The file is the first version of the declared size that an ingest claims. A version of
        another size is deleted on sight; once the file has its version, every other version is
        deleted. So the tenant stores the declared size once, which is what its quota counts, and
        a POST sent again neither replaces the file nor starts another ingest.
        """
        while True:
            kept = record.ingest.version_id if record.ingest else None
            if kept is not None:
                self._delete_versions_but(key, kept)
                own = self._objects.head_version(key, kept)
                if own is None:
                    logger.info("object gone before ingest: skipped")
                    return None
                stored = own
            elif stored.size != record.size:
                logger.warning("object version of another size than declared: deleted", extra={"size": stored.size})
                self._delete_version(key, stored)
                latest = self._objects.head(key)
                if latest is None:
                    return None
                stored = latest
                continue
            claimed = self._records.claim(record, self._claim(stored, final), stored.size)
            if claimed is not None:
                return claimed, stored
            current = self._records.get(record.tenant_id, record.file_id)
            if kept is not None or current is None or current.deleting or current.ingest is None:
                logger.info("already ingested, being ingested or being deleted: skipped", extra={"etag": stored.etag})
                return None
            record = current  # another version was claimed first: it is the file, this one goes

    def _delete_version(self, key: str, stored: StoredObject) -> None:
        # S3 calls a version stored while versioning was off "null".
        self._objects.delete_versions([{"Key": key, "VersionId": stored.version_id or "null"}])

    def _refuse_mismatch(self, claimed: FileRecord, key: str, stored: StoredObject) -> None:
        """FAILED `size_mismatch`, at once: the object is not the file whose size was reserved, and
        no retry would make it so. Its bytes go, for the quota counts the reserved size only."""
        logger.warning("object of another size than reserved", extra={"size": stored.size, "reserved": claimed.size})
        message = f"The stored object holds {stored.size} bytes; the upload reserved {claimed.size}."
        self._refuse(claimed, "size_mismatch", message, claimed)
        self._delete_version(key, stored)
        self._measure(None, time.monotonic(), claimed, failure="size_mismatch")

    def _delete_versions_but(self, key: str, kept: str) -> None:
        """Delete every version of the object but the file's own."""
        others = [version for version in self._objects.versions(key, exact=True) if version["VersionId"] != kept]
        if others:
            logger.warning("object versions beside the file's own: deleted", extra={"versions": len(others)})
            self._objects.delete_versions(others)

    def dead_lettered(self, upload: RawUpload, etag: str) -> None:
        """Settle the upload of a message the queue gave up on: every delivery failed, timed out or
        never got as far as the record, which may still be UPLOADING or PROCESSING. Unless the
        object has a newer version (its own message settles it), or that version is done or being
        ingested by another delivery (a duplicate notification), it ends FAILED `ingest_failed`."""
        logger.thread_safe_append_keys(tenant_id=upload.tenant_id, file_id=upload.file_id)
        stored = self._objects.head(upload.key)
        if stored is None or (etag and stored.etag != etag):
            logger.info("dead letter of a version no longer current: nothing to settle")
            return
        record = self._records.get(upload.tenant_id, upload.file_id) or self._record_unannounced(
            upload.tenant_id, upload.file_id, stored
        )
        if record is None:
            return
        size = _claimed_size(record, stored)
        if size == 0:
            logger.info("dead letter of an empty version written over a file: deleted, nothing to settle")
            self._delete_version(upload.key, stored)
            return
        claimed = self._records.claim(record, self._claim(stored, final=True), size)
        if claimed is None:
            logger.info("dead letter of a file done, being ingested or being deleted: nothing to settle")
            return
        latest = self._objects.head(upload.key)
        if latest is None or latest.etag != stored.etag:  # a newer version's own message settles it
            self._records.release(claimed)
            return
        if stored.size != claimed.size:
            self._refuse_mismatch(claimed, upload.key, stored)
            return
        logger.warning("file given up after every delivery failed", extra={"status": record.status.value})
        self._refuse(claimed, "ingest_failed", GIVEN_UP, claimed)
        self._measure(None, time.monotonic(), claimed, failure="ingest_failed")

    def _claim(self, stored: StoredObject, final: bool) -> IngestClaim:
        return IngestClaim(
            etag=stored.etag,
            version_id=stored.version_id,
            token=uuid.uuid4().hex,
            lease_until=int(time.time()) + self._settings.ingest_lease_seconds,
            final=final,
        )

    def _record_unannounced(self, tenant_id: str, file_id: str, stored: StoredObject) -> FileRecord | None:
        if stored.size == 0:
            # Nothing to read, and no record claims 0 bytes: it would be a file nobody could use.
            logger.warning("empty object uploaded around the API: deleted")
            self._delete_version(raw_key(tenant_id, file_id), stored)
            return None
        if stored.posted:
            # A presigned POST's record is stored before its URL is made: the file was deleted (or
            # its upload given up), and this is its POST sent again. It does not bring the file back.
            logger.warning("presigned POST sent again after its file was deleted: object deleted")
            self._objects.delete_all_versions(raw_key(tenant_id, file_id), exact=True)
            return None
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
            # Due at once: its bytes are there, but should they go before an ingest claims it, the
            # next read gives it up (reads repair an upload past its deadline with no bytes).
            upload=Upload(UploadMethod.DIRECT, expires_at=int(time.time())),
        )
        recorded = self._records.record_unannounced(record)
        if recorded is None:
            appeared = self._records.get(tenant_id, file_id)
            if appeared is None:
                logger.warning("object of no known tenant: skipped")
            return appeared
        # A delete removes the object before the record, so a record missing here may be one that
        # a delete has just finished with; its object is gone then, and so goes this new record.
        if self._objects.head(raw_key(tenant_id, file_id)) is None:
            logger.info("object deleted with its record before ingest: not recorded")
            self._records.delete(recorded)
            return None
        logger.warning("object uploaded around the API: recorded")
        return recorded

    def _ingest(self, claimed: FileRecord, stored: StoredObject, budget: Budget) -> None:
        with traced("ingest", tenant_id=claimed.tenant_id, file_id=claimed.file_id, size=stored.size) as annotate:
            self._ingest_traced(claimed, stored, budget, annotate)

    def _ingest_traced(
        self, claimed: FileRecord, stored: StoredObject, budget: Budget, annotate: Callable[..., None]
    ) -> None:
        started = time.monotonic()
        seen = Seen()
        scratch: Path | None = None
        ready: Joined | None = None
        reads = 0
        assert claimed.ingest is not None
        try:
            database = self._databases.current()
            limits = Limits.from_settings(self._settings)
            for _ in range(SCHEMA_READS):
                reads += 1
                if scratch is not None:  # read again: nothing of the last read may stay
                    shutil.rmtree(scratch, ignore_errors=True)
                    self._objects.delete_all_versions(
                        attempt_prefix(claimed.tenant_id, claimed.file_id, claimed.ingest.token)
                    )
                scratch = Path(tempfile.mkdtemp(prefix=f"{claimed.file_id}-", dir=database.root))
                seen = Seen()
                fixed = _fixed_types(self._target(claimed), claimed.file_id)
                chunks = self._objects.chunks(
                    raw_key(claimed.tenant_id, claimed.file_id), stored.version_id, READ_CHUNK_BYTES
                )
                detected, converted = read_object(
                    chunks, scratch, stored.size, limits, budget, seen, database, self._piece_bytes, fixed=fixed
                )
                assert seen.fetched is not None
                annotate(format=detected.format)
                limits.check_description(converted.columns)  # before publishing what the catalog would refuse
                try:
                    with traced("publish"):
                        ready = self._publish(claimed, seen.fetched, detected, converted, scratch / "curated")
                    break
                except SchemaMoved:
                    logger.info("the table's columns changed while the file was read: reading it again")
            else:
                raise RuntimeError("the table's columns kept changing while the file was read")
            self._measure(detected, started, claimed, size=seen.fetched.size, rows=converted.row_count)
        except FileProblem as problem:
            logger.info("file refused", extra={"error_code": problem.code, "reason": problem.message})
            self._refuse(claimed, problem.code, problem.message, _found(claimed, seen))
            self._measure(seen.detected, started, claimed, failure=problem.code)
        except Exception:
            self._databases.discard_current()  # whatever failed may have left it unusable
            if claimed.ingest and claimed.ingest.final:
                self._refuse(claimed, "ingest_failed", GIVEN_UP, _found(claimed, seen))
                self._measure(seen.detected, started, claimed, failure="ingest_failed")
            else:
                self._records.release(claimed)
            raise
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        if ready is not None:
            self._delete_earlier_copies(claimed, ready, reread=reads > 1)

    def _target(self, claimed: FileRecord) -> Table | None:
        """The table the file goes into, as it is now: its own if it has one (a new version of a
        file stays in its table), else the one its upload named; None for a new table of its own."""
        name = claimed.table or claimed.target_table
        return self._tables.get(claimed.tenant_id, name) if name else None

    def _publish(
        self, claimed: FileRecord, fetched: Fetched, detected: Detected, converted: Converted, curated: Path
    ) -> Joined | None:
        """Store the curated copy in this attempt's own folder, take the table's next partition,
        catalog it, and make the file READY with its rows in the table; the partition, if it is.
        If the file was deleted meanwhile, undo all of it; if a newer version's attempt took over,
        leave the rest to it. Raises SchemaMoved if the file must be read again with the table's
        columns, and a FileProblem `duplicate_file` if the table holds the same content already."""
        assert claimed.ingest is not None
        tenant_id, file_id, token = claimed.tenant_id, claimed.file_id, claimed.ingest.token
        if self._records.still_held(claimed) is None:
            self._lost(claimed)  # before writing anything another attempt or a delete would meet
            return None
        prefix = attempt_prefix(tenant_id, file_id, token)
        parts = tuple(sorted(curated.iterdir()))
        for part in parts:
            self._objects.upload(part, prefix + part.name, "application/vnd.apache.parquet")
        named = claimed.table or claimed.target_table
        joined = self._tables.join(claimed, named or table_base_name(claimed.name), named=named is not None)
        if joined is None:  # the claim was lost meanwhile: no partition may be taken for this attempt
            self._lost(claimed)
            return None
        table = joined.table
        replaced = self._tables.file_of(tenant_id, table.table_id, file_id)
        columns, added, missing = merged_columns(
            table, converted.columns, file_id, replacing_itself=_replacing_itself(table, replaced)
        )
        self._catalog.publish(
            tenant_id,
            table.in_catalog,
            [column.column for column in columns],
            joined.seq,
            Publication(file_id, token, parts),
        )
        ready = replace(
            claimed,
            status=Status.READY,
            format=detected.format,
            compression=detected.compression,
            sha256=fetched.sha256,
            row_count=converted.row_count,
            columns=[column.view() for column in converted.columns],
            table=table.name,
            drift={"added_columns": list(added), "missing_columns": list(missing)},
            notes=_notes(detected),
            updated_at=now(),
        )
        listed = TableFile(
            file_id,
            claimed.name,
            joined.seq,
            converted.row_count,
            ready.updated_at,
            fetched.sha256,
            added,
            missing,
            parquet_column_bytes(parts),
        )
        outcome = self._tables.commit(
            self._records.ready_update(claimed, ready),
            tenant_id,
            joined,
            listed,
            columns,
            replaced,
            also=[self._records.indexed(ready)],
        )
        if isinstance(outcome, Duplicate):
            raise self._duplicate(tenant_id, table, outcome)
        if not outcome:
            # A withdrawal of the file may have struck this partition off before it was written:
            # nothing else would drop it.
            self._catalog.drop_partition(tenant_id, table.in_catalog, joined.seq)
            self._lost(claimed)
            return None
        logger.info(
            "file ready",
            extra={"table": table.name, "format": detected.format, "rows": converted.row_count, "note": detected.note},
        )
        return joined

    def _duplicate(self, tenant_id: str, table: Table, duplicate: Duplicate) -> FileProblem:
        holder = self._records.get(tenant_id, duplicate.file_id)
        named = f'"{holder.name}" ({duplicate.file_id})' if holder else duplicate.file_id
        return FileProblem(
            "duplicate_file",
            f"The file's content is the same (SHA-256) as file {named}, already in table {table.name}: "
            "its rows are not added twice.",
        )

    def _delete_earlier_copies(self, claimed: FileRecord, ready: Joined, *, reread: bool) -> None:
        """Withdraw the partitions of the file's earlier attempts and delete their curated copies,
        once this one is READY.

        Listed before the record is read: if the record still names this attempt then, whatever
        was listed is older (a newer attempt writes only after its claim), else the newer attempt
        deletes it all once it is READY itself. Tidying only: the file is READY whatever happens
        here (an earlier partition stays hidden from queries), and what is left goes with the next
        version or the file.
        """
        assert claimed.ingest is not None
        if claimed.claims == 0 and not reread:
            return  # the file's first claim, its first read: nothing before it took a partition or wrote
        own = attempt_prefix(claimed.tenant_id, claimed.file_id, claimed.ingest.token)
        try:
            entries = [
                entry for entry in self._tables.entries_of(claimed.tenant_id, claimed.file_id) if entry != ready.entry
            ]
            listed = self._objects.versions(curated_prefix(claimed.tenant_id, claimed.file_id))
            earlier = [version for version in listed if not version["Key"].startswith(own)]
            if not entries and not earlier:
                return
            current = self._records.get(claimed.tenant_id, claimed.file_id)
            if current is None or not current.held_by(claimed.ingest.token):
                return
            withdraw_entries(self._tables, self._catalog, claimed.tenant_id, claimed.file_id, entries)
            if earlier:
                self._objects.delete_versions(earlier)
        except Exception:
            logger.warning("earlier partitions or curated copies left in place", exc_info=True)

    def _lost(self, claimed: FileRecord) -> None:
        """This attempt's claim is gone. If the file was deleted, or a newer version's attempt
        ended it FAILED, withdraw what was published (this attempt may have taken a partition after
        that attempt withdrew the file's); if a newer version's attempt is at work or made it READY,
        leave the file's partitions to it (its READY withdraws this attempt's) and delete this
        attempt's curated copy."""
        assert claimed.ingest is not None
        current = self._records.get(claimed.tenant_id, claimed.file_id)
        if current is None or current.deleting or current.status is Status.FAILED:
            logger.info("file deleted or failed while ingesting: undoing")
            withdraw(self._tables, self._objects, self._catalog, claimed.tenant_id, claimed.file_id)
        else:
            logger.info("claim lost to a newer version's ingest: leaving the table to it")
            self._objects.delete_all_versions(attempt_prefix(claimed.tenant_id, claimed.file_id, claimed.ingest.token))

    def _refuse(self, claimed: FileRecord, code: str, message: str, found: FileRecord) -> None:
        """FAILED with a reason; the file's rows leave its table, and so does whatever this or an
        earlier attempt had begun to publish (a partition taken, a catalog partition, curated Parquet)."""
        if self._records.fail(claimed, code, message, found):
            withdraw(self._tables, self._objects, self._catalog, claimed.tenant_id, claimed.file_id)

    def _measure(
        self,
        detected: Detected | None,
        started: float,
        claimed: FileRecord,
        *,
        size: int = 0,
        rows: int = 0,
        failure: str | None = None,
    ) -> None:
        """One EMF document per file, by format; a failure also by its error code."""
        kind = detected.format if detected else "unknown"
        with metrics(format=kind) as recorder:
            recorder.add_metric(
                name="IngestDuration", unit=MetricUnit.Milliseconds, value=(time.monotonic() - started) * 1000
            )
            if failure is not None:
                recorder.add_metric(name="FilesFailed", unit=MetricUnit.Count, value=1)
                recorder.add_dimensions(service=SERVICE, format=kind, error_code=failure)
                return
            recorder.add_metric(name="FilesIngested", unit=MetricUnit.Count, value=1)
            recorder.add_metric(name="IngestBytes", unit=MetricUnit.Bytes, value=size)
            recorder.add_metric(name="IngestRows", unit=MetricUnit.Count, value=rows)
            waited = time.time() - epoch_of(claimed.created_at)
            recorder.add_metric(name="UploadToReady", unit=MetricUnit.Milliseconds, value=waited * 1000)


def _fixed_types(table: Table | None, file_id: str) -> dict[str, ColumnType] | None:
    """The types the file is read with: its table's columns', unless the table is new or the
    file is its only file (a new version of it sets the columns afresh)."""
    if table is None or not table.columns or (table.file_count == 1 and table.last_file_id == file_id):
        return None
    return {column.name: column.type for column in table.columns}


def _replacing_itself(table: Table, replaced: TableFile | None) -> bool:
    """Whether the file is a new version of the table's only file."""
    return replaced is not None and table.file_count == 1


def _notes(detected: Detected) -> list[str]:
    return [detected.note] if detected.note else []


def _found(claimed: FileRecord, seen: Seen) -> FileRecord:
    """The record with what ingest learnt of the file before it failed: its hash, format, notes."""
    found = claimed
    if seen.fetched is not None:
        found = replace(found, sha256=seen.fetched.sha256, compression=seen.fetched.compression)
    if seen.detected is not None:
        found = replace(found, format=seen.detected.format, notes=_notes(seen.detected))
    return found


def _claimed_size(record: FileRecord, stored: StoredObject) -> int:
    """The size a claim of `stored` gives the record. Multipart parts go to the bucket straight from
    the client, so such an upload keeps the size it reserved until ingest has claimed it, and an
    object of another size is found out (`size_mismatch`) rather than charged. The API writes a
    direct upload's bytes itself: another size there, like any version written over a claimed file
    around the API, is a new version, with its own size."""
    reserved = record.upload.method is UploadMethod.MULTIPART and (
        record.ingest is None or record.ingest.etag == stored.etag
    )
    return record.size if reserved else stored.size


def _refused_for_its_size(record: FileRecord, stored: StoredObject) -> bool:
    """Whether the record is FAILED `size_mismatch` for this very version (whose bytes then go)."""
    claim, error = record.ingest, record.error or {}
    return error.get("code") == "size_mismatch" and claim is not None and claim.etag == stored.etag
