"""The full typed read: a file in, zstd Parquet out, with types that hold for every row.

DuckDB reads every row with explicit settings (the dialect detect.py chose, strict CSV parsing,
explicit column types) and writes the curated Parquet in the same pass; the row count is what
it wrote, so quoted newlines are never rows. Types come from a sample first: if a later value does
not fit (a number column that turns to text on row 300,001), the read fails on that value, the
types are inferred again from every row, and the file is read again. A wrong type is never kept.

A file added to an existing table is read with the table's types (`fixed`: a type for each of the
table's columns, by clean name), imposed explicitly on the same strict read, never inferred and then
compared; its other columns are typed as a new file's are, and the table's columns it lacks are
simply not in its output. A CSV or TSV has them among its explicit column types: such a column is
never widened nor sampled again, and a value that does not fit ends the file (schema_mismatch, with
the line, the column and the value). An integer column of the table is read as text and cast in the
same pass, whole numbers of its range only (DuckDB's reader would round `12.5`); the file is read
again only to find the line of one that is not. JSON Lines are read with every field's type
explicit, the table's where it has the field (struct fields under the file's own names, since the
reader matches them as written; an integer field as its JSON text, cast here to whole numbers
only); DuckDB names only the first line of the batch it was reading, so the lines from there have
those values cast one by one to name the line, the column and the value. A Parquet file carries its
own types: a column of the table's type is copied as it is, one that widens without loss (an
integer to a wider integer, an integer or a real to a double) is cast, one holding no value at
all is NULL of the table's type, and any other ends the file, with its first value and its row.
Otherwise what fits a column is what DuckDB's cast accepts.

Each conversion has its own connection to a database kept from file to file (ConversionDatabase),
limited in memory (it spills to its own folder), with file access only to the folder the file's
scratch folder is in and no extension loading: the file is untrusted. It
is held to the file's time budget: a statement still running when the budget is spent is
interrupted, and none starts after. The scratch copy is always the file's content itself (stream.py
decompresses it on the way in, counting), so DuckDB never decompresses anything.

What DuckDB raises is sorted by its type (an I/O error by its message) into the file's own
problems (a FileProblem: FAILED at once, never retried) and ours (raised as it is, so that the
queue delivers the file again): the statements are ours and fixed, so an error about the input, a
value or memory is the file's, and so are a full scratch disk and a read past a Parquet file's
end; anything else (DuckDB's internal errors, an interrupt that is not the budget's, any other I/O
error) is ours.
"""

from __future__ import annotations

import csv
import errno
import itertools
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from chalicelib.columns import Column, ColumnType
from chalicelib.ingest.detect import Detected
from chalicelib.ingest.limits import Budget, Limits
from chalicelib.ingest.naming import column_names
from chalicelib.ingest.problems import FileProblem, OverLimit
from chalicelib.ingest.types import column_type, nested_fields, nesting, read_as, stored
from chalicelib.quoting import identifier, literal

SAMPLE_ROWS = 20_480
# One CSV record may be this long; DuckDB reads in buffers of four records' length.
MAX_LINE_BYTES = 8 * 1024 * 1024
CSV_BUFFER_BYTES = 4 * MAX_LINE_BYTES
MAX_JSON_OBJECT_BYTES = 8 * 1024 * 1024
# How often the watch looks at the budget (and so at a local stop), and interrupts once it is spent:
# DuckDB forgets an interrupt that comes between two statements.
WATCH_SECONDS = 0.25
INTERRUPT_SECONDS = 0.05
# Each thread that writes the curated Parquet holds a row group in memory until it is full: this
# share of the memory limit each at most, so that wide rows fit (DuckDB's default is 122,880 rows
# or 120 MiB, whichever is less, which wide rows under a low limit cannot hold).
ROW_GROUP_SHARE = 8
# What DuckDB reads of what a Parquet footer may name: the codecs, and the types BYTE_STREAM_SPLIT
# may encode (Parquet also allows it on FIXED_LEN_BYTE_ARRAY: decimals, float16, UUIDs).
READABLE_PARQUET_CODECS = ("UNCOMPRESSED", "SNAPPY", "GZIP", "ZSTD", "BROTLI", "LZ4", "LZ4_RAW")
BYTE_STREAM_SPLIT_TYPES = ("FLOAT", "DOUBLE", "INT32", "INT64")
INTEGER_BITS = {"TINYINT": 8, "SMALLINT": 16, "INTEGER": 32, "BIGINT": 64}
INTEGER_TYPES = tuple(INTEGER_BITS)
MISFIT = "sdp: no whole number in column "  # the error a whole-number column's cast raises
# DuckDB names the first line of the batch of records it was reading when a JSON value did not fit.
JSON_BATCH_LINES = 2048
# The integer types a Parquet column may widen from, narrowest first.
INTEGER_STORAGE = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT")
# How much of a value that does not fit a message shows.
SHOWN_CHARS = 100


class NotUtf8(FileProblem):
    """A file read as UTF-8 has bytes further on that are not: it is to be read as Latin-1."""

    def __init__(self, message: str) -> None:
        super().__init__("malformed_file", message)


@dataclass(frozen=True)
class Converted:
    columns: list[Column]
    row_count: int


@dataclass(frozen=True)
class TableTyped:
    """A field of a JSON Lines file read with its table's type."""

    name: str  # the column's
    table: ColumnType
    read: str  # the table's type as the reader is given it (the file's names for struct fields)


@dataclass(frozen=True)
class CsvPlan:
    """How every piece of one CSV is read: the same dialect, names and types for all."""

    options: dict[str, Any]  # DuckDB's read_csv options
    originals: list[str] | None  # the header's names, if it has one
    names: list[str]
    types: list[str]  # DuckDB's type names
    fixed: Mapping[str, ColumnType] = field(default_factory=dict)  # the table's types of the columns it has


class ConversionDatabase:
    """The DuckDB database that converts files, one at a time, kept from one file to the next.

    Opening a database costs more than converting a small file (20 to 40 ms: DuckDB builds its
    catalog afresh), so a warm ingest container opens one and keeps it. It is limited in memory
    (it spills to `root`/spill), may read and write files only under `root`, where each file's
    scratch folder is made, loads no extension, and its configuration is locked. Each conversion
    has a connection of its own, which an interrupt stops alone.
    """

    def __init__(self, root: Path, limits: Limits) -> None:
        import duckdb  # ~90 ms to load: only the ingest function ever needs it

        self.root = root
        spill = root / "spill"
        spill.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "memory_limit": limits.memory,
            "temp_directory": str(spill),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "preserve_insertion_order": False,
        }
        if limits.threads:
            config["threads"] = limits.threads
        self._database = duckdb.connect(config=config)
        # Settings every connection gets (a connection's own progress bar is off in Python).
        self._database.execute("SET GLOBAL TimeZone = 'UTC'")
        self._database.execute(f"SET allowed_directories = [{literal(str(root))}]")
        self._database.execute("SET enable_external_access = false")
        self._database.execute("SET lock_configuration = true")
        # The limits as DuckDB holds them (its threads: one per core unless set).
        row = self._database.execute(
            "SELECT parse_formatted_bytes(current_setting('memory_limit')), current_setting('threads')"
        ).fetchone()
        assert row is not None
        memory, threads = row
        self.row_group_bytes = memory // (ROW_GROUP_SHARE * threads)
        self.connections = 0  # made so far: the conversions it served

    def connect(self) -> Any:
        self.connections += 1
        return self._database.cursor()

    def close(self) -> None:
        self._database.close()

    def __enter__(self) -> ConversionDatabase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ConversionDatabases:
    """A ConversionDatabase for each thread that ingests, opened on its first file, with a root
    folder of its own under `scratch_dir`. A Lambda container ingests on one thread; the local
    platform on several workers, one database each, so that no file shares its memory limit or
    its folder with another's."""

    def __init__(self, scratch_dir: Path, limits: Limits) -> None:
        self._scratch_dir = scratch_dir
        self._limits = limits
        self._local = threading.local()
        self._opened: list[ConversionDatabase] = []
        self._lock = threading.Lock()

    def current(self) -> ConversionDatabase:
        """This thread's database."""
        database: ConversionDatabase | None = getattr(self._local, "database", None)
        if database is None:
            root = Path(tempfile.mkdtemp(prefix="ingest-", dir=self._scratch_dir))
            database = self._local.database = ConversionDatabase(root, self._limits)
            with self._lock:
                self._opened.append(database)
        return database

    def discard_current(self) -> None:
        """Close this thread's database, which an error may have left unusable: its next file opens another."""
        database: ConversionDatabase | None = getattr(self._local, "database", None)
        if database is not None:
            self._local.database = None
            with self._lock:
                self._opened.remove(database)
            _close(database)

    def close(self) -> None:
        """Close every thread's database (once none converts any longer) and delete its folder."""
        with self._lock:
            opened, self._opened = self._opened, []
        for database in opened:
            _close(database)


def _close(database: ConversionDatabase) -> None:
    database.close()
    shutil.rmtree(database.root, ignore_errors=True)


class Converter:
    """Convert one file in a folder under the database's root (which holds the source and the output)."""

    def __init__(self, database: ConversionDatabase, limits: Limits, budget: Budget) -> None:
        import duckdb

        self._duckdb = duckdb
        self._limits = limits
        self._budget = budget
        self._con = database.connect()
        self._row_group_bytes = database.row_group_bytes
        self._lock = threading.Lock()  # held to interrupt: the connection cannot close meanwhile
        self._closed = threading.Event()
        threading.Thread(target=self._watch, name="ingest-budget", daemon=True).start()

    def close(self) -> None:
        with self._lock:
            self._closed.set()
            self._con.close()

    def _watch(self) -> None:
        """Interrupt whatever the connection runs once the budget is spent, until it is closed."""
        while not self._closed.wait(min(max(self._budget.remaining(), INTERRUPT_SECONDS), WATCH_SECONDS)):
            if self._budget.spent:
                self.interrupt()

    def _execute(self, sql: str) -> Any:
        """Run one statement within the budget: a FileProblem once it is spent."""
        return self._within_budget(self._con.execute, sql)

    def _within_budget(self, run: Any, sql: str) -> Any:
        """Run `sql`; a problem of the file's wherever DuckDB runs out of room for it: its time
        budget, its memory limit (spilling to scratch included) or the scratch space."""
        self._budget.check()
        try:
            return run(sql)
        except self._duckdb.InterruptException:
            if self._budget.spent:
                raise self._budget.problem() from None
            raise
        except self._duckdb.OutOfMemoryException:
            raise self._limits.memory_problem() from None
        except self._duckdb.IOException as error:
            if disk_full(error):
                raise OverLimit(
                    "file_too_large",
                    "Converting the file needs more scratch space than the ingest has: split it into smaller files.",
                ) from None
            raise

    def convert(
        self, source: Path, detected: Detected, destination: Path, fixed: Mapping[str, ColumnType] | None = None
    ) -> Converted:
        """Read `source` into `destination`; with `fixed` (a table's types by column name), each
        column of that name is read with the table's type, the others as a new file's are."""
        if detected.format == "parquet":
            return self._parquet(source, destination, fixed or {})
        if detected.format == "jsonl":
            return self._json_lines(source, detected, destination, fixed or {})
        return self._csv(source, detected, destination, fixed)

    # CSV and TSV ------------------------------------------------------------------------------

    def _csv(
        self, source: Path, detected: Detected, destination: Path, fixed: Mapping[str, ColumnType] | None
    ) -> Converted:
        plan = self.plan_csv(source, detected, fixed)
        names, types = plan.names, list(plan.types)
        resampled = False
        while True:
            try:
                rows = self._copy(_csv_reader(source, names, types, plan.options, plan.fixed), destination)
                break
            except self._duckdb.ConversionException as error:
                column = _converting_column(str(error))
                if column is not None and column in plan.fixed:  # the table's type: never widened, never sampled again
                    raise FileProblem(
                        "schema_mismatch", _csv_mismatch(str(error), column, plan.fixed[column])
                    ) from None
                if not resampled:
                    resampled = True
                    sniffed = self._sniffed_csv_types(source, plan.options, -1)
                    types = _imposed(names, sniffed, plan.fixed) if sniffed else types
                    continue
                if column not in names or types[names.index(column)] == "VARCHAR":
                    raise FileProblem("malformed_file", _csv_problem(str(error))) from None
                types[names.index(column)] = "VARCHAR"
            except self._duckdb.InvalidInputException as error:
                if MISFIT in str(error):
                    column = str(error).split(MISFIT, 1)[1].split()[0].strip("'\"")
                    raise FileProblem("schema_mismatch", _not_whole(source, plan, column)) from None
                if detected.encoding == "utf-8" and "Invalid unicode" in str(error):
                    raise NotUtf8(_csv_problem(str(error))) from None
                raise FileProblem("malformed_file", _csv_problem(str(error))) from None
        return Converted(self.csv_columns(replace(plan, types=types)), rows)

    def plan_csv(self, sample: Path, detected: Detected, fixed: Mapping[str, ColumnType] | None = None) -> CsvPlan:
        """How to read a CSV or TSV: DuckDB's options for the detected dialect, the columns' names,
        and their types: the table's for a column named in `fixed`, the others' from the first rows
        of `sample`."""
        assert detected.dialect is not None
        dialect = detected.dialect
        options = {
            "delim": dialect.delimiter,
            "quote": dialect.quote,
            "escape": dialect.quote,
            "header": dialect.header,
            "encoding": detected.encoding,
            "compression": "none",
            "max_line_size": MAX_LINE_BYTES,
            "buffer_size": CSV_BUFFER_BYTES,
            "comment": "",  # a line starting with '#' is data, not a comment
        }
        sniffed = self._sniffed_csv_types(sample, options, SAMPLE_ROWS)
        width = len(dialect.names) if dialect.header else len(sniffed or [])
        originals = list(dialect.names) if dialect.header else [f"column_{n}" for n in range(1, width + 1)]
        if not originals:
            raise FileProblem("malformed_file", "Line 1: the rows hold no fields the header can name.")
        # Where the sample cannot be typed, or disagrees with the header, read text: the strict
        # read then names the first line that does not fit.
        types = sniffed if sniffed and len(sniffed) == len(originals) else ["VARCHAR"] * len(originals)
        names = column_names(originals)
        fixed = {name: fixed[name] for name in names if name in fixed} if fixed else {}
        return CsvPlan(options, originals if dialect.header else None, names, _imposed(names, types, fixed), fixed)

    def copy_csv_piece(self, piece: Path, plan: CsvPlan, number: int, folder: Path) -> int:
        """Convert piece `number` of a CSV cut at record boundaries to its own Parquet file in
        `folder`; the rows it holds. Only the first piece starts with the header.

        Whatever goes wrong (a value that does not fit its type, a broken row, text that is not
        UTF-8) is raised as DuckDB said it: the whole-file read then widens the types or names the
        line (where a value does not fit the table's type, the line in the whole file).
        """
        options = plan.options | {"header": plan.options["header"] and number == 0}
        return self._copy(_csv_reader(piece, plan.names, plan.types, options, plan.fixed), folder / part_name(number))

    def csv_columns(self, plan: CsvPlan) -> list[Column]:
        originals: Sequence[str | None] = plan.originals or [None] * len(plan.names)
        return [
            Column(name, original, plan.fixed.get(name) or column_type(self._duckdb.sqltype(kind)))
            for name, original, kind in zip(plan.names, originals, plan.types, strict=True)
        ]

    def interrupt(self) -> None:
        """Stop what the connection runs now (from another thread); nothing if it is closed already."""
        with self._lock:
            if not self._closed.is_set():
                self._con.interrupt()

    def _sniffed_csv_types(self, source: Path, options: dict[str, Any], sample_size: int) -> list[str] | None:
        """DuckDB's types for the columns, from `sample_size` rows (-1: all) read in our dialect;
        None if the rows cannot be read in it (the strict read will then say where)."""
        try:
            row = self._execute(
                f"SELECT Columns FROM sniff_csv({literal(str(source))}, {_options(options)}, "
                f"sample_size = {sample_size})"
            ).fetchone()
        except (self._duckdb.InvalidInputException, self._duckdb.ConversionException):
            return None
        assert row is not None
        # TIME has no Parquet/Athena peer that round-trips: keep such columns as text.
        return ["VARCHAR" if c["type"] == "TIME" else c["type"] for c in row[0]]

    # JSON Lines -------------------------------------------------------------------------------

    def _json_lines(
        self, source: Path, detected: Detected, destination: Path, fixed: Mapping[str, ColumnType]
    ) -> Converted:
        if detected.encoding != "utf-8":
            raise FileProblem("malformed_file", "JSON Lines must be UTF-8; this file is not.")
        sample_size, objects_as_rows = SAMPLE_ROWS, False
        while True:
            reader = _json_reader(source, sample_size, self._limits.max_columns if objects_as_rows else None)
            table_typed: dict[str, TableTyped] = {}
            try:
                try:
                    # Binding infers the types; it fails if they are not records with named fields.
                    relation = self._within_budget(self._con.sql, f"SELECT * FROM {reader}")
                except self._duckdb.BinderException as error:
                    if objects_as_rows:
                        raise _not_records(source, self._budget, self._limits.max_columns, str(error)) from None
                    # DuckDB makes an object with many fields, or with fields most records lack, a
                    # map, records too: read again with every object a row, up to the column limit.
                    objects_as_rows = True
                    continue
                if fixed:
                    self._refuse_renamed_fields(source, sample_size, relation)
                    table_typed = self._table_typed_fields(relation, fixed)
                    reader = _json_reader(source, sample_size, None, _json_columns(relation, table_typed))
                    relation = self._within_budget(self._con.sql, f"SELECT * FROM {reader}")
                whole = {
                    typed.name: _whole_json(identifier(original), typed.name, typed.table.storage)
                    for original, typed in table_typed.items()
                    if typed.read == "JSON"
                }
                return self._typed_copy(reader, relation, destination, fixed, whole)
            except self._duckdb.InvalidInputException as error:
                if MISFIT in str(error):
                    column = str(error).split(MISFIT, 1)[1].split()[0].strip("'\"")
                    raise FileProblem("schema_mismatch", _not_whole_json(source, table_typed, column)) from None
                self._refuse_json_mismatch(source, str(error), table_typed)
                if "transform error" in str(error) and sample_size != -1:
                    sample_size = -1  # a later record has another type: infer from every record
                    continue
                raise FileProblem("malformed_file", _json_problem(str(error))) from None
            except self._duckdb.ConversionException as error:
                self._refuse_json_mismatch(source, str(error), table_typed)
                if sample_size != -1:
                    sample_size = -1
                    continue
                raise FileProblem("malformed_file", _json_problem(str(error))) from None

    def _refuse_renamed_fields(self, source: Path, sample_size: int, relation: Any) -> None:
        """Refuse a file whose fields' names differ only in case: DuckDB's inference renames the
        later one (`a` after `A` becomes `a_1`), and a reader given every field's type by name
        reads a name no record has as NULL, or another field's values if one has it. The records'
        own names are looked up only where a name has the shape of a rename (`…_1`)."""
        if not any(re.fullmatch(r".+_\d+", name) for name in relation.columns):
            return
        limit = f"LIMIT {sample_size}" if sample_size != -1 else ""
        keys = self._execute(
            f"SELECT DISTINCT unnest(json_keys(json)) FROM (SELECT json FROM read_json_objects("
            f"{literal(str(source))}, format = 'newline_delimited', maximum_object_size = {MAX_JSON_OBJECT_BYTES}, "
            f"compression = 'none') {limit})"
        ).fetchall()
        renamed = set(relation.columns) - {key for (key,) in keys}
        if renamed:
            by_case: dict[str, list[str]] = {}
            for (key,) in keys:
                by_case.setdefault(key.lower(), []).append(key)
            twins = next((sorted(group) for group in by_case.values() if len(group) > 1), sorted(renamed))
            raise FileProblem(
                "schema_mismatch",
                f"The records have fields whose names differ only in case ({', '.join(map(json.dumps, twins))}): "
                "they cannot be matched to the table's columns. Rename all but one of them.",
            )

    def _table_typed_fields(self, relation: Any, fixed: Mapping[str, ColumnType]) -> dict[str, TableTyped]:
        """The file's fields (`relation`: the reader bound, its types inferred) that the table has,
        by their names in the file: the table's type of each, and that type as the reader is given it."""
        originals = list(relation.columns)
        return {
            original: TableTyped(
                name,
                fixed[name],
                # An integer field read as its JSON text and cast here (`_whole_json`): the reader rounds 2.5.
                "JSON"
                if fixed[name].storage in INTEGER_TYPES
                else read_as(self._duckdb.sqltype(fixed[name].storage), inferred),
            )
            for original, name, inferred in zip(originals, column_names(originals), relation.types, strict=True)
            if name in fixed
        }

    def _refuse_json_mismatch(self, source: Path, message: str, table_typed: Mapping[str, TableTyped]) -> None:
        """Raise schema_mismatch if the read failed (DuckDB's `message`) on a value of a field read
        with the table's type. DuckDB names only the first line of the batch of records it was
        reading: from there, a batch's worth of lines have those values cast as the reader casts them."""
        line = re.search(r"in line (\d+)", message)
        if not table_typed or line is None:
            return
        first = int(line.group(1))
        with source.open("rb") as lines:
            for number, text in enumerate(itertools.islice(lines, first - 1, first - 1 + JSON_BATCH_LINES), first):
                try:
                    record = json.loads(text)
                except (ValueError, RecursionError):
                    continue  # not this: DuckDB names a line that is no JSON itself
                if not isinstance(record, dict):
                    continue
                values = [(table_typed[key], value) for key, value in record.items() if key in table_typed]
                if self._fit(values):
                    continue
                for typed, value in values:
                    if not self._fit([(typed, value)]):
                        shown = _shown(json.dumps(value, ensure_ascii=False))
                        raise FileProblem(
                            "schema_mismatch",
                            f'Line {number}: column "{typed.name}" holds {shown}, which does not fit the '
                            f"table's type {typed.table.athena}.",
                        )

    def _fit(self, values: list[tuple[TableTyped, Any]]) -> bool:
        """Whether JSON values cast to their fields' read types, as the reader casts them."""
        if not values:
            return True
        casts = ", ".join(f"CAST(?::JSON AS {typed.read})" for typed, _ in values)
        parameters = [json.dumps(value) for _, value in values]
        try:
            self._within_budget(lambda sql: self._con.execute(sql, parameters), f"SELECT {casts}")
        except (self._duckdb.ConversionException, self._duckdb.InvalidInputException):
            return False
        return True

    # Parquet ----------------------------------------------------------------------------------

    def _parquet(self, source: Path, destination: Path, fixed: Mapping[str, ColumnType]) -> Converted:
        path = literal(str(source))
        try:
            self._refuse_unreadable_parquet(path)
            row = self._execute(f"SELECT num_rows FROM parquet_file_metadata({path})").fetchone()
            assert row is not None
            reader = f"read_parquet({path})"
            relation = self._within_budget(self._con.sql, f"SELECT * FROM {reader}")
            casts = self._parquet_casts(path, relation, fixed)
            converted = self._typed_copy(reader, relation, destination, fixed, casts)
        except self._duckdb.Error as error:
            if not self._broken_parquet(error):
                raise
            raise FileProblem("malformed_file", f"The Parquet file cannot be read: {_first_line(str(error))}") from None
        if converted.row_count != row[0]:
            raise FileProblem(
                "malformed_file", f"The Parquet footer says {row[0]} rows; the file holds {converted.row_count}."
            )
        return converted

    def _parquet_casts(self, path: str, relation: Any, fixed: Mapping[str, ColumnType]) -> dict[str, str]:
        """How the file's columns the table has (by name in `fixed`) become the table's types,
        where theirs differ: cast where the file's type widens to the table's without loss
        (integer to a wider integer, integer or real to double), NULL where the column holds no
        value; any other is refused, with its first value."""
        casts: dict[str, str] = {}
        originals = list(relation.columns)
        for original, name, kind in zip(originals, column_names(originals), relation.types, strict=True):
            table = fixed.get(name)
            own = column_type(kind)
            if table is None or own.storage == table.storage:
                continue
            if _widens(own.storage, table.storage):
                casts[name] = f"CAST({identifier(original)} AS {table.storage})"
                continue
            # DuckDB's virtual row number, unless the file has a column of that name, which hides it.
            row = "NULL" if "file_row_number" in originals else "file_row_number + 1"
            first = self._execute(
                f"SELECT {row}, CAST({identifier(original)} AS VARCHAR) FROM read_parquet({path}) "
                f"WHERE {identifier(original)} IS NOT NULL ORDER BY file_row_number LIMIT 1"
            ).fetchone()
            if first is None:
                casts[name] = f"CAST(NULL AS {table.storage})"  # no value, so none that does not fit
                continue
            number, value = first
            where = f'Row {number}: column "{name}"' if number is not None else f'Column "{name}"'
            shown = _shown(value, quoted=own.storage == "VARCHAR")
            raise FileProblem(
                "schema_mismatch",
                f"{where} holds {shown} ({own.athena}), which does not fit the table's type {table.athena}.",
            )
        return casts

    def _broken_parquet(self, error: Exception) -> bool:
        """Whether DuckDB's error reading a Parquet file is the file's: its input and conversion
        errors, a read past the file's end (where a page header or the footer points), and the
        plain Error its Parquet reader raises for a corrupt footer, page or encoding (thrift's
        "Invalid data", "Footer length error", "Out of buffer"…). Any other I/O error (the scratch
        disk failing, a write refused) and DuckDB's other typed errors are ours."""
        duckdb = self._duckdb
        if isinstance(error, duckdb.IOException):
            return read_past_end(error)
        return type(error) is duckdb.Error or isinstance(
            error, (duckdb.InvalidInputException, duckdb.ConversionException)
        )

    def _refuse_unreadable_parquet(self, path: str) -> None:
        """Refuse, from its footer, a file DuckDB cannot read though Parquet allows it: a codec it
        lacks (LZO), BYTE_STREAM_SPLIT on other values than 4- and 8-byte numbers."""
        chunks = self._execute(
            f"SELECT path_in_schema, type, compression, encodings FROM parquet_metadata({path}) "
            "ORDER BY row_group_id, column_id"
        ).fetchall()
        for column, physical, codec, encodings in chunks:
            if codec not in READABLE_PARQUET_CODECS:
                raise FileProblem(
                    "unsupported_format",
                    f'Column "{column}" of this Parquet file is compressed with {codec}, which the platform '
                    "cannot read: write it with zstd, snappy, gzip, brotli, lz4 or no compression.",
                )
            if "BYTE_STREAM_SPLIT" in encodings.split(", ") and physical not in BYTE_STREAM_SPLIT_TYPES:
                raise FileProblem(
                    "unsupported_format",
                    f'Column "{column}" of this Parquet file uses the BYTE_STREAM_SPLIT encoding on '
                    f"{physical} values, which the platform cannot read (it reads it on FLOAT, DOUBLE, "
                    "INT32 and INT64 only): write that column with PLAIN or dictionary encoding.",
                )

    # Shared -----------------------------------------------------------------------------------

    def _typed_copy(
        self,
        reader: str,
        relation: Any,
        destination: Path,
        fixed: Mapping[str, ColumnType] | None = None,
        casts: Mapping[str, str] | None = None,
    ) -> Converted:
        """Copy everything `reader` yields into Parquet, renamed to SQL-safe names and stored as
        types Athena reads (`relation`: the reader bound, its types inferred or imposed); refused
        first if its records have too many fields or nest too deeply. A column named in `fixed` has
        the table's type, which it holds as read or through its expression in `casts`."""
        fixed, casts = fixed or {}, casts or {}
        self._limits.check_columns(sum(1 + nested_fields(kind) for kind in relation.types))
        self._limits.check_nesting(1 + max((nesting(kind) for kind in relation.types), default=0), "A record")
        originals = list(relation.columns)
        names = column_names(originals)
        select = ", ".join(
            f"{casts.get(name) or stored(identifier(original), kind)} AS {identifier(name)}"
            for original, name, kind in zip(originals, names, relation.types, strict=True)
        )
        rows = self._copy(f"SELECT {select} FROM {reader}", destination)
        columns = [
            Column(name, original, fixed.get(name) or column_type(kind))
            for name, original, kind in zip(names, originals, relation.types, strict=True)
        ]
        return Converted(columns, rows)

    def _copy(self, query: str, destination: Path) -> int:
        row = self._execute(
            f"COPY ({query}) TO {literal(str(destination))} "
            f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE_BYTES {self._row_group_bytes})"
        ).fetchone()
        assert row is not None
        return int(row[0])


def part_name(number: int) -> str:
    """The curated copy's files: part-0.parquet, part-1.parquet, … (a table is all of them)."""
    return f"part-{number}.parquet"


def _csv_reader(
    source: Path,
    names: list[str],
    types: list[str],
    options: dict[str, Any],
    fixed: Mapping[str, ColumnType] | None = None,
) -> str:
    """The strict read of a CSV file with the dialect and column types imposed: no sniffing. A
    column the table (`fixed`) has as an integer is read as text and cast here, refusing what is no
    whole number: DuckDB's reader rounds `12.5` into an integer column (DuckDB issue 25824)."""
    whole = {name for name in names if fixed and name in fixed and fixed[name].storage in INTEGER_TYPES}
    read = ["VARCHAR" if name in whole else kind for name, kind in zip(names, types, strict=True)]
    columns = "{" + ", ".join(f"{literal(n)}: {literal(t)}" for n, t in zip(names, read, strict=True)) + "}"
    selected = ", ".join(
        _whole_number(name, fixed[name].storage) if fixed and name in whole else identifier(name) for name in names
    )
    return (
        f"SELECT {selected} FROM read_csv({literal(str(source))}, columns = {columns}, auto_detect = false, "
        f"strict_mode = true, null_padding = false, ignore_errors = false, {_options(options)})"
    )


def _not_whole(source: Path, plan: CsvPlan, column: str) -> str:
    """Where `column` of a CSV first holds no whole number of its table's integer type (one with a
    fraction, or out of its range), found by reading the file again in its dialect: the line, the
    column and the value."""
    position = plan.names.index(column)
    misfit = f"which does not fit the table's type {plan.fixed[column].athena}."
    bits = INTEGER_BITS[plan.fixed[column].storage]
    with source.open(encoding=plan.options["encoding"], newline="") as text:
        records = csv.reader(text, delimiter=plan.options["delim"], quotechar=plan.options["quote"], doublequote=True)
        line = 1
        for number, record in enumerate(records):
            if not (number == 0 and plan.options["header"]) and position < len(record):
                value = record[position].strip()
                if value and not (
                    _WHOLE.fullmatch(value) and len(value) < 24 and -(2 ** (bits - 1)) <= int(value) < 2 ** (bits - 1)
                ):
                    return f'Line {line}: column "{column}" holds {_shown(value, quoted=True)}, {misfit}'
            line = records.line_num + 1
    return f'Column "{column}" holds a value that is no whole number, {misfit}'


_WHOLE = re.compile(r"[+-]?[0-9]+")


def _whole_number(name: str, storage: str) -> str:
    """The column's text as a whole number of the type, or an error naming the column (MISFIT)."""
    text = f"trim({identifier(name)})"
    number = f"TRY_CAST({text} AS {storage})"
    return (
        f"CASE WHEN {identifier(name)} IS NULL THEN NULL "
        f"WHEN regexp_full_match({text}, '[+-]?[0-9]+') AND {number} IS NOT NULL THEN {number} "
        f"ELSE error({literal(MISFIT + name)}) END AS {identifier(name)}"
    )


def _imposed(names: list[str], types: list[str], fixed: Mapping[str, ColumnType]) -> list[str]:
    """The columns' types with the table's imposed on the columns it has."""
    return [fixed[name].storage if name in fixed else kind for name, kind in zip(names, types, strict=True)]


def _options(options: dict[str, Any]) -> str:
    return ", ".join(f"{name} = {literal(value)}" for name, value in options.items())


def _first_line(message: str) -> str:
    """DuckDB's message as one sentence for the user: its first line, without DuckDB's label
    ("Invalid Input Error: ") and with its scratch paths said as "the file"."""
    line = message.strip().splitlines()[0]
    line = re.sub(r"^(?:[A-Za-z]+ ){1,3}Error: ", "", line)
    line = _SCRATCH_PATH.sub("the file", line)
    return _printable(line).strip()


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _shown(value: str, quoted: bool = False) -> str:
    """A value as a message shows it: its first SHOWN_CHARS characters, in quotes if `quoted`."""
    cut = _printable(value[:SHOWN_CHARS]) + ("…" if len(value) > SHOWN_CHARS else "")
    return f'"{cut}"' if quoted else cut


def _widens(own: str, table: str) -> bool:
    """Whether a Parquet column of storage type `own` becomes `table` without loss: an integer a
    wider integer, an integer or a real a double."""
    if own in INTEGER_STORAGE and table in INTEGER_STORAGE:
        return INTEGER_STORAGE.index(own) < INTEGER_STORAGE.index(table)
    return table == "DOUBLE" and (own in INTEGER_STORAGE or own == "FLOAT")


# A path in DuckDB's message, with the words naming it: `file "/…"`, `Parquet file '/…'`,
# `Parquet file (/…)`, `outside file: /…`.
_SCRATCH_PATH = re.compile(
    r"""(?:(?:Parquet\ )?file:?\ )?
        (?: (["'])/[^"']*\1 | \(/[^)]*\) | (?<![^\s:=])/[^\s,"'()]+ )""",
    re.VERBOSE,
)


def disk_full(error: Exception) -> bool:
    """Whether DuckDB's I/O error is the scratch disk being full. Only its message says so (with
    the system's own text for ENOSPC): tests/unit/test_convert_errors.py pins it."""
    return os.strerror(errno.ENOSPC) in str(error)


def read_past_end(error: Exception) -> bool:
    """Whether DuckDB's I/O error is a read past the end of the file it reads: a Parquet file whose
    page header or footer points beyond its last byte. Only its message says so:
    tests/unit/test_convert_errors.py pins it."""
    return "Could not read enough bytes from file" in str(error)


def _converting_column(message: str) -> str | None:
    found = re.search(r'converting column "([^"]+)"', message)
    return found.group(1) if found else None


def _csv_mismatch(message: str, column: str, table: ColumnType) -> str:
    """DuckDB's error on a value of a column read with its table's type, as one sentence: the
    line, the column and the value."""
    line = re.search(r"CSV Error on Line: (\d+)", message)
    value = re.search(r'Could not convert string "(.*?)" to \'', message, re.DOTALL)
    where = f'Line {line.group(1)}: column "{column}"' if line else f'Column "{column}"'
    held = _shown(value.group(1), quoted=True) if value else "a value"
    return f"{where} holds {held}, which does not fit the table's type {table.athena}."


def _csv_problem(message: str) -> str:
    """DuckDB's CSV error as one sentence: the line, and what is wrong there."""
    line = re.search(r"CSV Error on Line: (\d+)", message)
    for pattern, text in (
        (r"Expected Number of Columns: (\d+) Found: (\d+)", "expected {0} fields, found {1}"),
        (r"Value with unterminated quote found", "a quoted value is never closed"),
        (r"Invalid unicode", "the text is not valid UTF-8"),
        (r"Maximum line size of (\d+) bytes exceeded", "the line is longer than {0} bytes"),
        (
            r'converting column "([^"]+)"\. Could not convert string "(.*)" to',
            'column "{0}": "{1}" does not fit its type',
        ),
    ):
        found = re.search(pattern, message)
        if found:
            detail = text.format(*found.groups())
            return f"Line {line.group(1)}: {detail}." if line else detail[0].upper() + detail[1:] + "."
    return _first_line(message)


def _json_reader(source: Path, sample_size: int, objects_as_rows_up_to: int | None, columns: str | None = None) -> str:
    """DuckDB's read of a JSON Lines file, each line a record, its types inferred from
    `sample_size` records (-1: all); with `objects_as_rows_up_to`, an object becomes a row unless
    it has more fields than that (DuckDB's own inference makes maps of wide or sparse objects).
    With `columns` (DuckDB's struct of every field's type), nothing is inferred."""
    rows = (
        f", map_inference_threshold = {objects_as_rows_up_to}, field_appearance_threshold = 0"
        if objects_as_rows_up_to is not None
        else ""
    )
    typed = f", columns = {columns}" if columns is not None else ""
    return (
        f"read_json({literal(str(source))}, format = 'newline_delimited', records = true, "
        f"sample_size = {sample_size}, maximum_object_size = {MAX_JSON_OBJECT_BYTES}, compression = 'none'"
        f"{rows}{typed})"
    )


def _whole_json(field: str, name: str, storage: str) -> str:
    """A JSON field's text as a whole number of the type, or an error naming the column (MISFIT)."""
    number = f"TRY_CAST({field} AS {storage})"
    return (
        f"CASE WHEN {field} IS NULL OR json_type({field}) = 'NULL' THEN NULL "
        f"WHEN json_type({field}) IN ('BIGINT', 'UBIGINT') AND {number} IS NOT NULL THEN {number} "
        f"ELSE error({literal(MISFIT + name)}) END"
    )


def _not_whole_json(source: Path, table_typed: Mapping[str, TableTyped], column: str) -> str:
    """Where the field of `column` first holds no whole number of its table's integer type, found
    by reading the lines again: the line, the column and the value."""
    original, typed = next((original, typed) for original, typed in table_typed.items() if typed.name == column)
    bits = INTEGER_BITS[typed.table.storage]
    misfit = f"which does not fit the table's type {typed.table.athena}."
    with source.open("rb") as lines:
        for number, text in enumerate(lines, start=1):
            try:
                record = json.loads(text)
            except (ValueError, RecursionError):
                continue
            value = record.get(original) if isinstance(record, dict) else None
            whole = (
                isinstance(value, int) and not isinstance(value, bool) and -(2 ** (bits - 1)) <= value < 2 ** (bits - 1)
            )
            if value is not None and not whole:
                return (
                    f'Line {number}: column "{column}" holds {_shown(json.dumps(value, ensure_ascii=False))}, {misfit}'
                )
    return f'Column "{column}" holds a value that is no whole number, {misfit}'


def _json_columns(relation: Any, table_typed: Mapping[str, TableTyped]) -> str:
    """Every field of the file (`relation`: its reader bound) with its type: the table's where it
    has the field, the inferred one elsewhere."""
    types = (
        table_typed[original].read if original in table_typed else str(inferred)
        for original, inferred in zip(relation.columns, relation.types, strict=True)
    )
    return "{" + ", ".join(f"{literal(o)}: {literal(t)}" for o, t in zip(relation.columns, types, strict=True)) + "}"


def _not_records(source: Path, budget: Budget, max_columns: int, refusal: str) -> FileProblem:
    """Why DuckDB cannot read JSON Lines as records, found line by line: the first line that is a
    value but no object, or an object with a field of no name; fields past the column limit
    between them; or no field at all. (DuckDB's `refusal` says neither which line nor why: it is
    the message only when none of these is found.)"""
    fields: set[str] = set()
    with source.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if number % 10_000 == 0:
                budget.check()
            try:
                value = json.loads(line)
            except (ValueError, RecursionError):
                continue  # not this: DuckDB names a line that is no JSON itself
            if value is None:
                continue
            if not isinstance(value, dict):
                return FileProblem(
                    "malformed_file",
                    f"Line {number} is {_json_kind(value)}, not a JSON object: write one object per line.",
                )
            if "" in value:
                return FileProblem(
                    "malformed_file",
                    f'Line {number} has a field with an empty name (""): every field needs a name to be a column.',
                )
            fields.update(value)
            if len(fields) > max_columns:
                return OverLimit(
                    "too_many_columns",
                    f"The records have more than {max_columns} fields between them; at most {max_columns} are read.",
                )
    if not fields:
        return FileProblem("malformed_file", "No record has a field: there is no column to read.")
    return FileProblem("malformed_file", f"The lines cannot be read as records: {_first_line(refusal)}")


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "a string" if isinstance(value, str) else "an array"


def _json_problem(message: str) -> str:
    found = re.search(r"in line (\d+)(?:[^:]*): (.+?)(?:\n|$)", message)
    if found:
        return f"Line {found.group(1)}: {found.group(2).strip().rstrip('.')}."
    return _first_line(message)
