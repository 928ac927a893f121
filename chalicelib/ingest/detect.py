"""What a file is, from its first bytes: format, compression, text encoding, CSV dialect.

Decided by content, never by name or claimed type. The CSV dialect is decided here too, not left
to a sniffer that skips rows it cannot explain: whatever is chosen is then enforced strictly on
every row by the full read.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import itertools
import json
import re
from collections import Counter
from dataclasses import dataclass

from chalicelib.ingest.limits import Limits
from chalicelib.ingest.problems import FileProblem

# Enough to see the structure of any sane file; decided on this much, enforced on all of it.
SAMPLE_BYTES = 1024 * 1024
# The dialect is judged by the sample's first records at most: a MiB of very short rows is a
# quarter of a million of them, which would take seconds to parse once per delimiter.
SNIFF_RECORDS = 10_000

_MAGIC: list[tuple[bytes, str]] = [
    (b"PK\x03\x04", "a ZIP archive"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"\x7fELF", "an ELF executable"),
    (b"MZ", "a Windows executable"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x28\xb5\x2f\xfd", "a zstd-compressed file"),
    (b"\xd0\xcf\x11\xe0", "an old Office document"),
    (b"SQLite format 3\x00", "an SQLite database"),
]

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
ENCRYPTED_PARQUET_MAGIC = b"PARE"  # Parquet modular encryption, footer encrypted
UTF8_BOM = codecs.BOM_UTF8
DELIMITERS = [",", "\t", ";", "|"]
LATIN1_NOTE = (
    "The file is not valid UTF-8, so it was read as Latin-1 (ISO-8859-1): check that accented and "
    "other non-ASCII characters came out right."
)


@dataclass(frozen=True)
class Dialect:
    delimiter: str
    header: bool
    names: tuple[str, ...] = ()  # the header's names, as written
    quote: str = '"'
    width: int = 0  # fields in the first record


@dataclass(frozen=True)
class Detected:
    format: str  # csv, tsv, jsonl, parquet
    compression: str | None = None  # gzip
    encoding: str = "utf-8"  # utf-8 or latin-1
    dialect: Dialect | None = None
    note: str | None = None


def kind_of_binary(head: bytes) -> str | None:
    """The name of a known non-data format the bytes start with, or None."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if len(head) > 262 and head[257:262] == b"ustar":
        return "a tar archive"
    return None


def detect(head: bytes, tail: bytes, compression: str | None = None, *, limits: Limits, utf8: bool = True) -> Detected:
    """Classify a file from its first SAMPLE_BYTES (decompressed, if gzip) and its last bytes.

    A text file whose first record already has more columns, or a JSON record more nesting, than
    `limits` allow is refused here, before anything reads further.
    `utf8=False`: the file is known not to be UTF-8 (the full read found bytes that are not),
    even if its first SAMPLE_BYTES are.
    """
    if not head.strip():
        raise FileProblem("empty_file", "The file is empty: it has no bytes, or only blanks.")
    if head.startswith(PARQUET_MAGIC):
        if compression:
            raise FileProblem(
                "unsupported_format", "Parquet inside gzip is not supported: upload the Parquet file itself."
            )
        if not tail.endswith(PARQUET_MAGIC):
            raise FileProblem(
                "malformed_file", "The file starts as Parquet but has no Parquet footer: it is cut short."
            )
        return Detected(format="parquet")
    if head.startswith(GZIP_MAGIC):
        raise FileProblem("unsupported_format", "The file is gzip-compressed twice.")
    binary = kind_of_binary(head)
    if binary:
        raise FileProblem("unsupported_format", f"This is {binary}, not CSV, TSV, JSON Lines or Parquet.")

    text, encoding, note = _decode(head, utf8)
    if "\x00" in text or _control_ratio(text) > 0.01:
        # Binary, so no text that happens to start with "PARE" and end with it ("…,COMPARE").
        if head.startswith(ENCRYPTED_PARQUET_MAGIC) and tail.endswith(ENCRYPTED_PARQUET_MAGIC):
            raise FileProblem(
                "unsupported_format",
                "This Parquet file is encrypted (its footer too), which the platform cannot read: "
                "upload it unencrypted.",
            )
        raise FileProblem("unsupported_format", "The file holds binary data, not CSV, TSV, JSON Lines or Parquet.")
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("{"):
        return _json_lines(stripped, encoding, compression, note, limits)
    if stripped.startswith("["):
        raise FileProblem("unsupported_format", "A JSON array is not supported: write one JSON object per line.")
    dialect = sniff_dialect(text)
    limits.check_columns(dialect.width)
    return Detected(
        format="tsv" if dialect.delimiter == "\t" else "csv",
        compression=compression,
        encoding=encoding,
        dialect=dialect,
        note=note,
    )


def _decode(head: bytes, utf8: bool) -> tuple[str, str, str | None]:
    """The sample as text: UTF-8 (with or without BOM) if it is valid UTF-8, else Latin-1.

    Latin-1 gives every byte a character, so nothing is lost; the note tells the user it was a guess.
    """
    body = head[len(UTF8_BOM) :] if head.startswith(UTF8_BOM) else head
    if utf8:
        with contextlib.suppress(UnicodeDecodeError):  # not UTF-8 after all: Latin-1 below
            # final=False: a character cut at the sample's end is not an error.
            return codecs.getincrementaldecoder("utf-8")().decode(body, final=False), "utf-8", None
    return body.decode("latin-1"), "latin-1", LATIN1_NOTE


def _control_ratio(text: str) -> float:
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\t\r\n\f")
    return controls / max(len(text), 1)


def _json_lines(text: str, encoding: str, compression: str | None, note: str | None, limits: Limits) -> Detected:
    first = text.split("\n", 1)[0].strip()
    # Measured without recursion before the parser recurses into it.
    limits.check_nesting(json_nesting(first), "Line 1")
    try:
        document = json.loads(first)
    except ValueError as error:
        raise FileProblem(
            "malformed_file", f"Line 1 is not a JSON object: {error.msg} at column {error.colno}."
        ) from None
    except RecursionError:
        raise FileProblem("malformed_file", "Line 1 nests objects and arrays too deeply to be read.") from None
    if not isinstance(document, dict):
        raise FileProblem("malformed_file", "Line 1 is not a JSON object.")
    limits.check_columns(len(document))
    return Detected(format="jsonl", compression=compression, encoding=encoding, note=note)


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def json_nesting(text: str) -> int:
    """How many levels of objects and arrays the JSON text nests at its deepest (brackets inside
    strings aside); counted, not parsed, so that no depth can exhaust the stack."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def sniff_dialect(text: str) -> Dialect:
    """The delimiter that splits the sample's records into the most consistent number of fields (>1).

    Records are parsed as CSV (quoted fields may hold delimiters and newlines). The last record
    may be cut by the sample's end and is left out. A file that no delimiter splits is one column.
    """
    best: tuple[float, int, int] | None = None
    chosen = ","
    rows_of_chosen: list[list[str]] = []
    for rank, delimiter in enumerate(DELIMITERS):
        rows = _records(text, delimiter)
        widths = [len(row) for row in rows]
        if not widths:
            continue
        width, count = Counter(widths).most_common(1)[0]
        if width < 2:
            continue
        score = (count / len(widths), width, -rank)
        if best is None or score > best:
            best, chosen, rows_of_chosen = score, delimiter, rows
    if best is None:
        rows_of_chosen = _records(text, chosen)
    header = _has_header(rows_of_chosen)
    first = rows_of_chosen[0] if rows_of_chosen else []
    return Dialect(delimiter=chosen, header=header, names=tuple(first) if header else (), width=len(first))


def _records(text: str, delimiter: str) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter, quotechar='"')
    rows: list[list[str]] = []
    complete = text.endswith(("\n", "\r"))
    try:
        rows.extend(itertools.islice((row for row in reader if row), SNIFF_RECORDS + 1))
        if len(rows) > SNIFF_RECORDS:  # stopped short: the one after the last kept may be cut
            rows, complete = rows[:SNIFF_RECORDS], True
    except csv.Error:
        complete = False  # a field too long for the sample: judge by the records before it
    if len(rows) > 1 and not complete:
        rows = rows[:-1]  # cut by the sample's end
    return rows


def _has_header(rows: list[list[str]]) -> bool:
    """Whether the first row names the columns. It does if one of its cells is text where the
    column's values are numbers, dates or booleans; it does not if, without that, its cells are
    values of their columns' kind; when everything is text it is taken as a header, as is a lone row."""
    if len(rows) < 2:
        return True
    first, rest = rows[0], rows[1:200]
    looks_like_data = False
    for index, cell in enumerate(first):
        kinds = {_value_kind(row[index]) for row in rest if index < len(row) and row[index] != ""}
        if len(kinds) != 1 or cell == "":
            continue
        (column_kind,) = kinds
        if column_kind != "text" and _value_kind(cell) == "text":
            return True
        if column_kind != "text" and _value_kind(cell) == column_kind:
            looks_like_data = True
    return not looks_like_data


def _value_kind(cell: str) -> str:
    text = cell.strip()
    if text.lower() in ("true", "false"):
        return "boolean"
    with contextlib.suppress(ValueError):  # not a number: perhaps a date
        float(text.replace("_", "x"))
        return "number"
    if len(text) >= 8 and text[:4].isdigit() and text[4:5] in "-/" and text[5:7].isdigit():
        return "date"
    return "text"
