"""Uploads by size: in the request, a presigned POST, or parts in parallel that an interrupted run resumes."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import mimetypes
import os
import shutil
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sdp.credentials import config_dir, private_directory, write_private
from sdp.errors import ApiError, NotFound, PermissionDenied, SdpError
from sdp.models import File, MultipartUpload, Part, PostUpload

if TYPE_CHECKING:
    from sdp.client import Client

MIB = 1024 * 1024
# In AWS, API Gateway passes at most 4 MiB of body to the function; larger files go straight to S3.
DIRECT_UPLOAD_LIMIT = 4 * MIB
CHUNK = MIB


class UploadRefused(SdpError):
    """The source cannot be uploaded as given (a directory, a stream without a name)."""


class _Interrupted(Exception):
    """Raised inside a part's body when the upload is being stopped."""


class Source:
    """The bytes to upload, readable at any offset from several threads at once, without loading them."""

    def __init__(self, source: str | os.PathLike[str] | IO[bytes]) -> None:
        self.path: Path | None = None
        self._lock = threading.Lock()
        self._owned: IO[bytes] | None = None
        if isinstance(source, str | os.PathLike):
            path = Path(source)
            if path.is_dir():
                raise UploadRefused(f"{path} is a directory: name the files in it.", code="not_a_file")
            if not path.is_file():
                raise UploadRefused(f"{path}: no such file.", code="file_not_found")
            self.path = path.resolve()
            self._owned = self.file = path.open("rb")
        elif _seekable(source):
            self.file = source
        else:  # a pipe: spooled to disk so that its size is known and parts can be read at any offset
            self._owned = self.file = tempfile.TemporaryFile()  # noqa: SIM115  (closed by close())
            shutil.copyfileobj(source, self.file, CHUNK)
        self.start = self.file.tell()
        self.size = self.file.seek(0, os.SEEK_END) - self.start
        self._descriptor: int | None = None
        self.modified_ns = 0
        # pread only where the descriptor holds exactly the bytes read (not under gzip.open's and the like)
        if isinstance(self.file, io.FileIO | io.BufferedReader | io.BufferedRandom):
            self._descriptor = self.file.fileno()
            self.modified_ns = os.fstat(self._descriptor).st_mtime_ns

    def read_at(self, offset: int, length: int) -> bytes:
        if self._descriptor is not None:  # pread: no shared file position, so no lock
            return os.pread(self._descriptor, length, self.start + offset)
        with self._lock:
            self.file.seek(self.start + offset)
            return self.file.read(length)

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()


def _seekable(stream: IO[bytes]) -> bool:
    try:
        return stream.seekable()
    except (AttributeError, ValueError):
        return False


class Section:
    """A read-only file object over `length` bytes of a source from `offset`, reporting what is read."""

    def __init__(self, source: Source, offset: int, length: int, on_read: Callable[[int], None]) -> None:
        self.source, self.offset, self.length, self.on_read = source, offset, length, on_read
        self.position = 0

    def read(self, size: int = -1) -> bytes:
        size = self.length - self.position if size is None or size < 0 else min(size, self.length - self.position)
        data = self.source.read_at(self.offset + self.position, size) if size > 0 else b""
        self.position += len(data)
        self.on_read(len(data))
        return data

    def seek(self, position: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.position, os.SEEK_END: self.length}[whence]
        self.position = max(0, min(self.length, base + position))
        return self.position

    def tell(self) -> int:
        return self.position

    def chunks(self, stop: threading.Event) -> Iterator[bytes]:
        while data := self.read(CHUNK):
            if stop.is_set():
                raise _Interrupted
            yield data


class Progress:
    """Bytes sent so far across threads, reported as they grow; a part sent again counts once."""

    def __init__(self, total: int, report: Callable[[int, int], None] | None) -> None:
        self.total, self.report = total, report
        self._lock = threading.Lock()
        self._done = 0
        self._by_part: dict[int, int] = {}

    def restart(self, part: int) -> Callable[[int], None]:
        """A reader's counter for one try of `part`: whatever an earlier try of it counted is taken back."""
        with self._lock:
            self._done -= self._by_part.pop(part, 0)

        def advance(count: int) -> None:
            with self._lock:  # reported under the lock too: the reports arrive in the order of the counts
                self._by_part[part] = self._by_part.get(part, 0) + count
                self._done += count
                if self.report is not None and count:
                    self.report(self._done, self.total)

        return advance

    def held(self, parts: dict[int, int]) -> None:
        """Parts storage holds from an earlier run (number: size), counted as sent in one report."""
        with self._lock:
            for part, size in parts.items():
                self._done += size - self._by_part.get(part, 0)
                self._by_part[part] = size
            if self.report is not None and parts:
                self.report(self._done, self.total)


class ResumeStore:
    """Which multipart upload a local file was going into, so that a second run sends only what is missing."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, url: str, source: Source, name: str, table: str | None) -> Path | None:
        if source.path is None:
            return None  # only a file on disk can be recognised again
        # The table is part of what is recognised: the upload was started for it, and goes nowhere else.
        fields: list[Any] = [url, str(source.path), source.size, source.modified_ns, name]
        key = json.dumps(fields + ([table] if table is not None else []))
        return self.directory / f"{hashlib.sha256(key.encode()).hexdigest()}.json"

    def load(self, url: str, source: Source, name: str, table: str | None = None) -> str | None:
        path = self._path(url, source, name, table)
        try:
            return json.loads(path.read_text())["file_id"] if path else None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, url: str, source: Source, name: str, file_id: str, table: str | None = None) -> None:
        if path := self._path(url, source, name, table):
            private_directory(self.directory.parent)  # the configuration directory, as the login's
            saved = {"file_id": file_id, "path": str(source.path), "name": name} | ({"table": table} if table else {})
            write_private(path, json.dumps(saved))

    def forget(self, url: str, source: Source, name: str, table: str | None = None) -> None:
        if path := self._path(url, source, name, table):
            path.unlink(missing_ok=True)


class Uploader:
    """One `Client.upload`: picks the way by size and sees it through, into `table` if one is named."""

    def __init__(self, client: Client, report: Callable[[int, int], None] | None, table: str | None = None) -> None:
        self.client = client
        self.report = report
        self.table = table
        self.resumes = ResumeStore((client.store.directory if client.store else config_dir()) / "uploads")
        self.stop = threading.Event()
        self._renewing = threading.Lock()
        self._renewed: dict[int, str] = {}  # part number → a URL fetched after others expired

    def upload(self, given: str | os.PathLike[str] | IO[bytes], name: str | None, content_type: str | None) -> File:
        source = Source(given)
        try:
            name = name or _default_name(given, source)
            if source.size == 0:
                raise UploadRefused(f"{name} is empty (0 bytes): there is nothing to upload.", code="empty_file")
            content_type = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
            progress = Progress(source.size, self.report)
            if source.size <= DIRECT_UPLOAD_LIMIT:
                return self._direct(source, name, content_type, progress)
            return self._through_storage(source, name, content_type, progress)
        finally:
            source.close()

    def _direct(self, source: Source, name: str, content_type: str, progress: Progress) -> File:
        data = source.read_at(0, source.size)
        record = self.client.post_file(data, name, content_type, table=self.table)
        progress.restart(1)(len(data))
        return record

    def _through_storage(self, source: Source, name: str, content_type: str, progress: Progress) -> File:
        url = self.client.url
        file_id = self.resumes.load(url, source, name, self.table)
        if file_id is not None and (parts := self._resumable(file_id)) is not None:
            return self._multipart(file_id, parts, source, name, progress)
        self.resumes.forget(url, source, name, self.table)

        started = self.client.start_upload(name, source.size, content_type, table=self.table)
        if isinstance(started.upload, MultipartUpload):
            self.resumes.save(url, source, name, started.file_id, self.table)
            return self._multipart(started.file_id, started.upload, source, name, progress)
        try:
            self._post(started.upload, source, name, content_type, progress)
        except BaseException:
            self._give_up(started.file_id)  # nothing to resume: give the reserved quota back
            raise
        return self.client.file(started.file_id)

    def _resumable(self, file_id: str) -> MultipartUpload | None:
        """The first page of parts of an interrupted upload, or None if it can no longer be resumed
        (deleted, expired, completed meanwhile, or not this user's)."""
        try:
            return self.client.upload_parts(file_id)
        except (NotFound, PermissionDenied):
            return None
        except ApiError as error:
            if error.status == 409:
                return None
            raise

    def _give_up(self, file_id: str) -> None:
        with contextlib.suppress(SdpError):  # else the reservation lapses by itself when its URL expires
            self.client.delete_file(file_id)

    def _post(self, upload: PostUpload, source: Source, name: str, content_type: str, progress: Progress) -> None:
        def form() -> dict[str, Any]:
            section = Section(source, 0, source.size, progress.restart(1))
            return {"data": upload.fields, "files": {"file": (name, section, content_type)}}

        self.client.send("POST", upload.url, safe=True, body=form)

    def _multipart(self, file_id: str, upload: MultipartUpload, source: Source, name: str, progress: Progress) -> File:
        etags: dict[int, str] = {}
        page: MultipartUpload | None = upload
        while page is not None:
            missing = [part for part in page.parts if part.etag is None]
            held = [part for part in page.parts if part.etag is not None]
            etags |= {part.part_number: part.etag for part in held if part.etag is not None}
            progress.held({part.part_number: part.size for part in held})
            etags |= self._send_parts(file_id, missing, upload.part_size, source, progress)
            page = self.client.upload_parts(file_id, page.next_part) if page.next_part else None
        record = self.client.complete_upload(file_id, etags)
        self.resumes.forget(self.client.url, source, name, self.table)
        return record

    def _send_parts(
        self, file_id: str, parts: list[Part], part_size: int, source: Source, progress: Progress
    ) -> dict[int, str]:
        """PUT the parts, a few at a time, on daemon threads: an interrupt (Ctrl-C) ends the program at once
        instead of waiting on a part in flight, and S3 keeps every part that was whole. The first failure
        stops the rest."""
        pending = deque(parts)
        etags: dict[int, str] = {}
        failures: list[BaseException] = []

        def work() -> None:
            try:
                while not self.stop.is_set():
                    try:
                        part = pending.popleft()
                    except IndexError:
                        return
                    etags[part.part_number] = self._put_part(file_id, part, part_size, source, progress)
            except BaseException as error:
                failures.append(error)
                self.stop.set()

        workers = [
            threading.Thread(target=work, name=f"sdp-part-{n}", daemon=True)
            for n in range(min(self.client.upload_concurrency, len(parts)))
        ]
        for worker in workers:
            worker.start()
        try:
            for worker in workers:
                worker.join()
        except BaseException:
            self.stop.set()
            raise
        if failures:
            raise failures[0]
        return etags

    def _put_part(self, file_id: str, part: Part, part_size: int, source: Source, progress: Progress) -> str:
        """PUT one part (network failures retried by the client); an expired URL is asked for again, once."""
        section = (source, (part.part_number - 1) * part_size, part.size)
        with self._renewing:
            url = self._renewed.pop(part.part_number, part.url)
        try:
            return self._put(url, part.part_number, section, progress)
        except ApiError as error:
            if error.status != 403:
                raise
        return self._put(self._renew(file_id, part.part_number), part.part_number, section, progress)

    def _renew(self, file_id: str, number: int) -> str:
        """A fresh URL for part `number`. URLs expire together, so one request renews the parts after it
        too, for every worker (GET /uploads/{id}/parts?from=number answers up to 1,000)."""
        with self._renewing:
            if number not in self._renewed:
                page = self.client.upload_parts(file_id, number)
                self._renewed |= {part.part_number: part.url for part in page.parts}
            return self._renewed.pop(number)

    def _put(self, url: str, number: int, section: tuple[Source, int, int], progress: Progress) -> str:
        source, offset, length = section

        def body() -> dict[str, Any]:
            if self.stop.is_set():
                raise _Interrupted
            reader = Section(source, offset, length, progress.restart(number))
            return {"content": reader.chunks(self.stop), "headers": {"Content-Length": str(length)}}

        return self.client.send("PUT", url, safe=True, body=body).headers["ETag"]


def _default_name(given: object, source: Source) -> str:
    if source.path is not None:
        return source.path.name
    name = getattr(given, "name", None)
    if isinstance(name, str) and name and not name.startswith("<"):
        return Path(name).name
    raise UploadRefused("Give the upload a name: this stream has none.", code="name_required")
