"""A file's record: what the platform knows of one upload, from its first byte to its table."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from chalicelib.errors import BadRequest
from chalicelib.files.search import entry

# A file id is a ULID (chalicelib/ids.py): 26 characters of Crockford base32, the first at most 7.


class Status(StrEnum):
    UPLOADING = "UPLOADING"
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"


class UploadMethod(StrEnum):
    DIRECT = "DIRECT"  # POST /files: the body itself
    POST = "POST"  # a presigned POST
    MULTIPART = "MULTIPART"  # presigned part URLs, then POST /uploads/{id}/complete


@dataclass(frozen=True)
class Upload:
    method: UploadMethod
    # Epoch seconds after which an upload that never arrived is given up and its quota freed.
    expires_at: int | None = None
    upload_id: str | None = None
    part_size: int | None = None
    part_count: int | None = None

    @property
    def keeps_first_version(self) -> bool:
        """Whether the file is the first object version of the declared size an ingest claims,
        for good. A presigned POST can be sent again while it is valid, each time a new version
        of the object: none of those may replace the file, nor stay stored beside it."""
        return self.method is UploadMethod.POST


@dataclass(frozen=True)
class IngestClaim:
    """Which object version an ingest works on, and until when it holds the record."""

    etag: str
    token: str  # tells this attempt from a later one of the same version
    lease_until: int  # epoch seconds; after it another attempt may take over
    final: bool  # the queue's last delivery: if it dies too, the file ends FAILED
    version_id: str | None = None


@dataclass(frozen=True)
class FileRecord:
    tenant_id: str
    file_id: str
    name: str
    owner_id: str
    size: int
    content_type: str
    status: Status
    created_at: str
    updated_at: str
    upload: Upload
    format: str | None = None
    compression: str | None = None
    sha256: str | None = None
    row_count: int | None = None
    columns: list[dict[str, str]] = field(default_factory=list)
    table: str | None = None
    error: dict[str, str] | None = None
    # What a person should know about how the file was read (an encoding that was guessed).
    notes: list[str] = field(default_factory=list)
    # Set while DELETE /files/{id} removes the file's objects; ingest then stops short.
    deleting: bool = False
    ingest: IngestClaim | None = None
    # How many times ingest has claimed the record: 0 until the first claim, whose attempt is the
    # only one that can have written anything.
    claims: int = 0
    # The table the upload asked to be added to (`table=`); None: a table of the file's own.
    target_table: str | None = None
    # Every table partition the file's attempts took (files/tables.py `seq_entry`), its READY one
    # and any an attempt did not get to use: withdrawing the file reads them here.
    table_seqs: tuple[str, ...] = ()
    # How the file's columns differed from its table's when it was added.
    drift: dict[str, list[str]] | None = None

    def held_by(self, token: str) -> bool:
        """Whether the ingest attempt with this claim token holds the record."""
        return self.ingest is not None and self.ingest.token == token

    def to_fields(self) -> dict[str, Any]:
        fields = asdict(self)
        fields["status"] = self.status.value
        fields["upload"] = {key: value for key, value in fields["upload"].items() if value is not None}
        fields["upload"]["method"] = self.upload.method.value
        if self.ingest is None:
            del fields["ingest"]
        # A string set, added to and taken from one entry at a time; DynamoDB stores no empty set.
        fields["table_seqs"] = set(self.table_seqs) or None
        return fields

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> FileRecord:
        known = {name: fields[name] for name in cls.__dataclass_fields__ if name in fields}
        upload = dict(known.pop("upload"))
        upload["method"] = UploadMethod(upload["method"])
        claim = known.pop("ingest", None)
        return cls(
            **known
            | {
                "status": Status(known["status"]),
                "upload": Upload(**upload),
                "ingest": IngestClaim(**claim) if claim else None,
                "table_seqs": tuple(sorted(known.get("table_seqs", ()))),
            }
        )

    def search_entry(self) -> str:
        """What a search of files looks at of this one (files/search.py)."""
        return entry([self.name, self.table], self.columns, self.status.value, self.format)

    def view(self) -> dict[str, Any]:
        """The record as API.md shows it."""
        return {
            "file_id": self.file_id,
            "name": self.name,
            "status": self.status.value,
            "size": self.size,
            "content_type": self.content_type,
            "format": self.format,
            "compression": self.compression,
            "sha256": self.sha256,
            "row_count": self.row_count,
            "columns": self.columns,
            "table": self.table,
            "target_table": self.target_table,
            "drift": self.drift,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "error": self.error,
            "notes": self.notes,
            "owner_id": self.owner_id,
        }


def check_name(name: str | None) -> str:
    """API.md's rule for file names: 1-255 characters, none a control character, no / or \\."""
    if name is None or not 1 <= len(name) <= 255:
        raise BadRequest("invalid_name", "Give the file a name of 1 to 255 characters (?name=…).")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name) or "/" in name or "\\" in name:
        raise BadRequest("invalid_name", "A file name cannot contain control characters, '/' or '\\'.")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in name):
        # JSON can spell half a UTF-16 pair ("\ud800"): that is no character, and cannot be stored.
        raise BadRequest("invalid_name", "A file name must be valid Unicode text: it holds half a surrogate pair.")
    return name
