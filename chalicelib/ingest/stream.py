"""The one streaming read of an object, and the typed read that overlaps it.

The object's content is written to scratch once, SHA-256 computed beside the writes over the
bytes as stored. A gzip object is inflated on the way (every member), so that its content is
counted as it comes and refused the moment it passes the file's cap (absolute, and a ratio to the
compressed size), and what DuckDB reads is never compressed. A CSV or TSV is cut into pieces at
record boundaries while it arrives, and each piece becomes Parquet while the next one arrives: the
typed read does not wait for the last byte. Whatever the pieces cannot settle (a type that changes
further on, a broken row, text that turns out not to be UTF-8) sends the file to the whole-file
read, over the same scratch copy: the object is never read twice. A limit any part reaches
(`OverLimit`: the time budget, the content cap, columns, nesting) stops the whole read at once.

A file added to an existing table is read with the table's types (`fixed`, by column name) in
either read: the pieces impose them as the whole-file read does, and a value that does not fit one
sends the file to the whole-file read, which names the value and its line in the whole file.
"""

from __future__ import annotations

import contextvars
import errno
import hashlib
import itertools
import os
import queue
import shutil
import threading
import zlib
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from chalicelib.columns import ColumnType
from chalicelib.ingest.convert import ConversionDatabase, Converted, Converter, CsvPlan, NotUtf8, part_name
from chalicelib.ingest.detect import GZIP_MAGIC, PARQUET_MAGIC, SAMPLE_BYTES, Detected, detect
from chalicelib.ingest.limits import Budget, Limits
from chalicelib.ingest.problems import FileProblem, OverLimit
from chalicelib.observability import logger, traced

# Small enough to stay in the CPU cache between hashing and writing it: 8 MiB chunks were
# several times slower to write (bench/ingest.py).
READ_CHUNK_BYTES = 256 * 1024
# Pieces converted while the rest arrives. Smaller pieces leave less to convert after the last
# byte; each is a Parquet file of its own, and Athena reads fewer, larger files faster.
PIECE_BYTES = 128 * 1024 * 1024
QUOTE = ord('"')


@dataclass(frozen=True)
class Fetched:
    """One streaming read of the object: where its content now is, and what was seen on the way."""

    pieces: list[Path]  # the content in order; one file unless it was cut at record boundaries
    size: int  # the object's bytes, as stored
    sha256: str  # of the object's bytes, as stored
    head: bytes  # the content's first SAMPLE_BYTES
    tail: bytes
    compression: str | None
    corrupt: FileProblem | None = None  # the stored bytes could not be decompressed (all were hashed)


@dataclass
class Seen:
    """What is known of the file so far: a FAILED record keeps it."""

    fetched: Fetched | None = None
    detected: Detected | None = None


def read_object(
    chunks: Iterable[bytes],
    scratch: Path,
    stored_size: int,
    limits: Limits,
    budget: Budget,
    seen: Seen,
    database: ConversionDatabase,
    piece_bytes: int = PIECE_BYTES,
    *,
    fixed: Mapping[str, ColumnType] | None = None,
) -> tuple[Detected, Converted]:
    """Stream the object to `scratch` (a folder under `database`'s root) once and read it with
    exact types into `scratch`/curated/: with `fixed` (an existing table's types by column name),
    each column of that name with the table's type.

    A FileProblem says what is wrong with the file; `seen` tells what was learnt before it.
    """
    curated = scratch / "curated"
    curated.mkdir()
    pieces = PieceConverter(database, limits, budget, curated, fixed)
    try:
        with traced("read and checksum") as annotate:
            seen.fetched = fetch(chunks, scratch, stored_size, limits, budget, pieces, piece_bytes)
            if seen.fetched.corrupt is not None:
                raise seen.fetched.corrupt
            early = pieces.result()
            # A CSV or TSV is detected and converted piece by piece as its bytes arrive.
            annotate(converted_while_reading=early is not None)
    except BaseException:
        pieces.abort()
        raise
    if early is not None:
        seen.detected = early[0]
        return early
    fetched = seen.fetched
    for stale in curated.iterdir():  # what pieces converted before they gave up
        stale.unlink()
    budget.check()
    source = _joined(fetched.pieces, scratch / "source")
    with traced("detect") as annotate:
        seen.detected = detect(fetched.head, fetched.tail, fetched.compression, limits=limits)
        annotate(format=seen.detected.format)
    try:
        with traced("convert", format=seen.detected.format):
            return seen.detected, _convert(source, seen.detected, scratch, database, limits, budget, fixed)
    except NotUtf8:
        # UTF-8 as far as detection looked, not further on: the file is not UTF-8 after all.
        seen.detected = detect(fetched.head, fetched.tail, fetched.compression, limits=limits, utf8=False)
        with traced("convert", format=seen.detected.format, encoding="latin-1"):
            return seen.detected, _convert(source, seen.detected, scratch, database, limits, budget, fixed)


def fetch(
    chunks: Iterable[bytes],
    scratch: Path,
    stored_size: int,
    limits: Limits,
    budget: Budget,
    pieces: PieceConverter | None = None,
    piece_bytes: int = PIECE_BYTES,
) -> Fetched:
    """Stream an object's content to local disk once, hashing its stored bytes and keeping the
    content's first and last bytes on the way. Hashing runs in a second thread, beside the disk
    writes (and the inflating, if gzip): these let go of the GIL, so on two cores they overlap.

    With `pieces`, once it has seen the first bytes and wants them, the content is cut into files
    of about `piece_bytes` at record boundaries, each handed over as it is complete.

    A plain object's file is given the room it needs up front: writing into allocated blocks is
    faster, and a file the scratch disk cannot hold is known before a byte is written.
    """
    if stored_size > limits.max_content_bytes:
        raise limits.content_cap(stored_size, compressed=False)[1]
    digest = hashlib.sha256()
    pending: queue.Queue[bytes | None] = queue.Queue(maxsize=16)  # a few MiB in memory at most

    def hash_chunks() -> None:
        while (chunk := pending.get()) is not None:
            digest.update(chunk)

    size = 0

    def stored(chunks: Iterable[bytes]) -> Iterator[bytes]:
        nonlocal size
        for chunk in chunks:
            budget.check()
            pending.put(chunk)
            size += len(chunk)
            yield chunk

    hasher = threading.Thread(target=hash_chunks, name="sha256", daemon=True)
    hasher.start()
    head = bytearray()
    tail = b""
    paths = [scratch / "source.00000"]
    sink = paths[0].open("wb")
    written = 0  # into the current file
    odd_quotes = False  # whether the current file holds an odd number of '"' so far
    raw = stored(chunks)
    content = Content(raw, stored_size, limits)
    allocated = False
    corrupt: FileProblem | None = None
    try:
        try:
            for chunk in content:
                budget.check()  # a stored chunk may inflate to many
                if pieces is not None and pieces.refused is not None:
                    raise pieces.refused
                if not allocated and content.compression is None:
                    _allocate(sink, stored_size)
                allocated = True
                tail = (tail + chunk[-8:])[-8:]
                if len(head) < SAMPLE_BYTES:
                    head += chunk[: SAMPLE_BYTES - len(head)]
                    if len(head) == SAMPLE_BYTES and pieces is not None:
                        pieces.start(bytes(head), content.compression)
                cut = -1
                if (
                    pieces is not None
                    and len(head) == SAMPLE_BYTES
                    and written + len(chunk) >= piece_bytes
                    and pieces.wanted
                ):
                    cut = _record_end(chunk, odd_quotes)
                if cut >= 0 and pieces is not None:
                    sink.write(chunk[:cut])
                    _close(sink, written + cut)
                    pieces.add(paths[-1])
                    paths.append(scratch / f"source.{len(paths):05d}")
                    sink = paths[-1].open("wb")
                    chunk, written, odd_quotes = chunk[cut:], 0, False
                    if content.compression is None:
                        _allocate(sink, stored_size - content.size + len(chunk))
                sink.write(chunk)
                written += len(chunk)
                odd_quotes ^= chunk.count(QUOTE) % 2 == 1
        except CorruptContent as problem:
            corrupt = problem
            deque(raw, maxlen=0)  # the rest is only hashed, so that the FAILED record has the file's SHA-256
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
            raise OverLimit(
                "file_too_large", "The file's content is larger than the ingest's scratch space can hold."
            ) from None
        _close(sink, written)
        if pieces is not None and corrupt is None:
            if len(head) < SAMPLE_BYTES:  # a small file: one piece, converted after the read
                pieces.start(bytes(head), content.compression)
            pieces.add(paths[-1])
            pieces.close()
    finally:
        sink.close()
        pending.put(None)
        hasher.join()
    return Fetched(paths, size, digest.hexdigest(), bytes(head), tail, content.compression, corrupt)


class CorruptContent(FileProblem):
    """The stored bytes say gzip but do not decompress."""

    def __init__(self, message: str) -> None:
        super().__init__("malformed_file", f"The compressed data is corrupt: {message}.")


class Content:
    """An object's content as its stored bytes arrive: those bytes themselves, or, if they are gzip,
    what they inflate to (every member, in chunks of at most READ_CHUNK_BYTES, however much one
    stored chunk expands), counted against the file's content cap as it comes."""

    def __init__(self, stored: Iterator[bytes], stored_size: int, limits: Limits) -> None:
        self._stored = stored
        self._stored_size = stored_size
        self._limits = limits
        self.compression: str | None = None  # known once the first bytes are
        self.size = 0  # content bytes so far

    def __iter__(self) -> Iterator[bytes]:
        first = b""
        for chunk in self._stored:  # enough bytes to tell gzip by
            first += chunk
            if len(first) >= len(GZIP_MAGIC):
                break
        compressed = first.startswith(GZIP_MAGIC)
        self.compression = "gzip" if compressed else None
        cap, past_cap = self._limits.content_cap(self._stored_size, compressed)
        stored = itertools.chain([first], self._stored)
        for chunk in _inflated(stored) if compressed else stored:
            if not chunk:
                continue
            self.size += len(chunk)
            if self.size > cap:
                raise past_cap
            yield chunk


def _inflated(stored: Iterable[bytes]) -> Iterator[bytes]:
    """What gzip bytes inflate to: each member in turn, zero padding between members skipped (as
    gzip's own reader does)."""
    inflater = zlib.decompressobj(wbits=31)
    for chunk in stored:
        data = chunk
        while True:
            if inflater.eof:
                data = data.lstrip(b"\x00")
                if not data:
                    break
                inflater = zlib.decompressobj(wbits=31)
            try:
                out = inflater.decompress(data, READ_CHUNK_BYTES)
            except zlib.error as error:
                raise CorruptContent(str(error)) from None
            if out:
                yield out
            data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
            # All input taken and the output full: zlib may hold more output, so ask again.
            if not data and (inflater.eof or len(out) < READ_CHUNK_BYTES):
                break
    if not inflater.eof:
        raise CorruptContent("it ends before its gzip stream does")


class PieceConverter:
    """Converts a CSV or TSV piece by piece in a thread of its own, while the rest arrives.

    It decides from the first SAMPLE_BYTES whether it wants pieces at all; if anything goes wrong
    on the way it stops wanting them, and `result()` is None: the whole file is then read as one.
    If what goes wrong is a limit (`refused`), the whole read stops there.
    """

    def __init__(
        self,
        database: ConversionDatabase,
        limits: Limits,
        budget: Budget,
        folder: Path,
        fixed: Mapping[str, ColumnType] | None = None,
    ) -> None:
        self._database = database
        self._limits = limits
        self._budget = budget
        self._folder = folder
        self._fixed = fixed
        self._queue: queue.Queue[Path | None] = queue.Queue()
        self._decided = threading.Event()
        self._wanted = threading.Event()
        self._aborted = threading.Event()
        self._thread: threading.Thread | None = None
        self._converter: Converter | None = None
        self._result: tuple[Detected, Converted] | None = None
        self.refused: OverLimit | None = None

    @property
    def wanted(self) -> bool:
        """Whether to cut the bytes into pieces (once started, waiting for the first decision)."""
        self._decided.wait()
        return self._wanted.is_set()

    def start(self, head: bytes, compression: str | None) -> None:
        context = contextvars.copy_context()  # the file's log keys (tenant, file) go along
        self._thread = threading.Thread(
            target=context.run, args=(self._run, head, compression), name="pieces", daemon=True
        )
        self._thread.start()

    def add(self, piece: Path) -> None:
        self._queue.put(piece)

    def close(self) -> None:
        self._queue.put(None)

    def abort(self) -> None:
        """The read failed: stop at once, keep nothing."""
        self._aborted.set()
        self._wanted.clear()
        if self._converter is not None:
            self._converter.interrupt()
        self._queue.put(None)
        self.result()

    def result(self) -> tuple[Detected, Converted] | None:
        """Every piece's Parquet and what was detected, once all are converted; None if the file
        is to be read whole."""
        if self._thread is not None:
            self._thread.join()
        return None if self._aborted.is_set() else self._result

    def _run(self, head: bytes, compression: str | None) -> None:
        try:
            if head.startswith(PARQUET_MAGIC):  # read whole; its footer is not known yet
                return
            detected = detect(head, b"", compression, limits=self._limits)
            if detected.format not in ("csv", "tsv"):
                return
            self._wanted.set()
            self._decided.set()
            self._result = detected, self._convert(detected)
        except OverLimit as problem:
            self.refused = problem
        except Exception as error:  # the whole-file read meets it again, and says what it is
            if not self._aborted.is_set():
                logger.info("read in pieces stopped: reading the file whole", extra={"reason": str(error)[:300]})
        finally:
            self._wanted.clear()
            self._decided.set()
            if self._converter is not None:
                self._converter.close()

    def _convert(self, detected: Detected) -> Converted:
        """Each piece as it comes, with the types sniffed from the first (the table's where fixed)."""
        self._converter = Converter(self._database, self._limits, self._budget)
        plan: CsvPlan | None = None
        rows = 0
        for number, piece in enumerate(iter(self._queue.get, None)):
            if self._aborted.is_set():
                break
            plan = plan or self._converter.plan_csv(piece, detected, self._fixed)
            rows += self._converter.copy_csv_piece(piece, plan, number, self._folder)
        if plan is None:
            raise RuntimeError("the read stopped before its first piece")
        return Converted(self._converter.csv_columns(plan), rows)


def _record_end(chunk: bytes, odd_quotes: bool) -> int:
    """Where a record ends in `chunk` (just after its last newline outside quotes), or -1.

    With '"' as the quote and a doubled '"' inside quoted values, a newline ends a record exactly
    when an even number of quotes comes before it in the file. A stray quote can mislead this;
    then a piece ends inside a quoted value, fails to parse, and the whole file is read instead.
    """
    end = len(chunk)
    for _ in range(8):  # a long quoted value: try again in the next chunk
        newline = chunk.rfind(b"\n", 0, end)
        if newline < 0:
            return -1
        if (chunk.count(QUOTE, 0, newline) % 2 == 1) == odd_quotes:
            return newline + 1
        end = newline
    return -1


def _joined(pieces: list[Path], whole: Path) -> Path:
    """The pieces as one file again, each piece freed once copied (scratch holds one copy)."""
    if len(pieces) == 1:
        return pieces[0]
    with whole.open("wb") as sink:
        for piece in pieces:
            with piece.open("rb") as source:
                shutil.copyfileobj(source, sink, READ_CHUNK_BYTES)
            piece.unlink()
    return whole


def _convert(
    source: Path,
    detected: Detected,
    scratch: Path,
    database: ConversionDatabase,
    limits: Limits,
    budget: Budget,
    fixed: Mapping[str, ColumnType] | None,
) -> Converted:
    converter = Converter(database, limits, budget)
    try:
        return converter.convert(source, detected, scratch / "curated" / part_name(0), fixed)
    finally:
        converter.close()


def _allocate(sink: BinaryIO, size: int) -> None:
    if size <= 0 or not hasattr(os, "posix_fallocate"):  # macOS has none: written as it comes
        return
    try:
        os.posix_fallocate(sink.fileno(), 0, size)
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        raise OverLimit(
            "file_too_large", f"The file ({size} bytes) is larger than the ingest's scratch space can hold."
        ) from None


def _close(sink: BinaryIO, size: int) -> None:
    sink.truncate(size)  # give back what was allocated beyond it
    sink.close()
