"""A file added to an existing table is read with the table's types, explicitly, by the same strict
read that types a new file: a CSV's, a JSON Lines file's and a Parquet file's columns the table has
get its types (a column matched by its clean name), new columns are inferred as ever, columns the
table has and the file lacks are simply absent, and a value that does not fit ends the file
(schema_mismatch) with its line or row, its column and itself. Without the table's types nothing
changes."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from chalicelib.columns import Column, ColumnType
from chalicelib.ingest.convert import ConversionDatabase, Converted
from chalicelib.ingest.limits import Budget, Limits
from chalicelib.ingest.problems import FileProblem
from chalicelib.ingest.stream import PIECE_BYTES, Seen, read_object
from chalicelib.settings import Settings
from tests.parquet_files import parquet

LIMITS = Limits.from_settings(Settings.model_construct())
SMALL_PIECE = 64 * 1024
CHUNK = 32 * 1024

BIGINT = ColumnType("BIGINT", "bigint", "bigint")
INTEGER = ColumnType("INTEGER", "integer", "int")
DOUBLE = ColumnType("DOUBLE", "double", "double")
VARCHAR = ColumnType("VARCHAR", "varchar", "string")
DATE = ColumnType("DATE", "date", "date")
TIMESTAMP = ColumnType("TIMESTAMP", "timestamp", "timestamp")
BOOLEAN = ColumnType("BOOLEAN", "boolean", "boolean")
PERSON = ColumnType('STRUCT("firstname" VARCHAR)', "row(firstname varchar)", "struct<firstname:string>")


@pytest.fixture
def database(tmp_path: Path) -> Iterator[ConversionDatabase]:
    with ConversionDatabase(tmp_path, LIMITS) as database:
        yield database


def _read(
    database: ConversionDatabase,
    data: bytes,
    fixed: Mapping[str, ColumnType] | None = None,
    piece_bytes: int = PIECE_BYTES,
) -> tuple[Converted, list[tuple[Any, ...]], int]:
    """The file read (in chunks, as S3 streams it): what was converted, its rows in order, and how
    many Parquet files hold them."""
    scratch = Path(tempfile.mkdtemp(dir=database.root))
    chunks = [data[at : at + CHUNK] for at in range(0, len(data), CHUNK)]
    _, converted = read_object(
        chunks, scratch, len(data), LIMITS, Budget.unlimited(), Seen(), database, piece_bytes, fixed=fixed
    )
    parts = sorted((scratch / "curated").iterdir())
    rows = duckdb.sql(f"SELECT * FROM read_parquet('{scratch}/curated/*.parquet') ORDER BY ALL").fetchall()
    return converted, rows, len(parts)


def _refused(database: ConversionDatabase, data: bytes, fixed: Mapping[str, ColumnType], **options: Any) -> str:
    with pytest.raises(FileProblem) as refused:
        _read(database, data, fixed, **options)
    assert refused.value.code == "schema_mismatch", refused.value.message
    return refused.value.message


def _lines(*records: Any) -> bytes:
    return b"".join(json.dumps(record).encode() + b"\n" for record in records)


def _types(converted: Converted) -> dict[str, str]:
    return {column.name: column.type.storage for column in converted.columns}


# CSV and TSV --------------------------------------------------------------------------------------

SALES = b"id,Amount,code,note\n1,10,70,first\n2,20,12,second\n"


def test_a_csv_has_the_tables_types_and_its_new_columns_are_inferred(database: ConversionDatabase) -> None:
    """Amount and code would be sniffed bigint: the table says double and varchar. id and note are
    new; the table's `region` is not in the file."""
    converted, rows, _ = _read(database, SALES, {"amount": DOUBLE, "code": VARCHAR, "region": VARCHAR})
    assert converted.columns == [
        Column("id", "id", BIGINT),
        Column("amount", "Amount", DOUBLE),
        Column("code", "code", VARCHAR),
        Column("note", "note", VARCHAR),
    ]
    assert rows == [(1, 10.0, "70", "first"), (2, 20.0, "12", "second")]


def test_a_csv_without_the_tables_types_is_read_as_ever(database: ConversionDatabase) -> None:
    converted, rows, _ = _read(database, SALES)
    assert _types(converted) == {"id": "BIGINT", "amount": "BIGINT", "code": "BIGINT", "note": "VARCHAR"}
    assert rows == [(1, 10, 70, "first"), (2, 20, 12, "second")]


def test_a_csv_value_that_does_not_fit_the_tables_type_is_a_schema_mismatch(database: ConversionDatabase) -> None:
    data = b"id,amount\n1,10\n2,20\n3,n/a\n"
    assert _refused(database, data, {"amount": BIGINT}) == (
        'Line 4: column "amount" holds "n/a", which does not fit the table\'s type bigint.'
    )
    tsv = b"id\tday\n1\t2024-01-01\n2\t2024-02-30\n"
    assert _refused(database, tsv, {"day": DATE}) == (
        'Line 3: column "day" holds "2024-02-30", which does not fit the table\'s type date.'
    )


def test_a_csv_column_of_the_table_is_never_widened_a_new_one_still_is(database: ConversionDatabase) -> None:
    """Past the sample (20,480 rows) a value turns to text: a new column becomes varchar as ever,
    the table's column ends the file."""
    rows = b"".join(b"%d,%d\n" % (n, n) for n in range(25_000))
    data = b"id,amount\n" + rows + b"25000,unknown\n"
    converted, _, _ = _read(database, data, {"id": BIGINT})
    assert converted.columns == [Column("id", "id", BIGINT), Column("amount", "amount", VARCHAR)]
    assert _refused(database, data, {"amount": BIGINT}) == (
        'Line 25002: column "amount" holds "unknown", which does not fit the table\'s type bigint.'
    )


def test_a_csv_read_in_pieces_has_the_tables_types_and_names_the_line_of_a_misfit(
    database: ConversionDatabase,
) -> None:
    rows = b"".join(b"%d,%d,note %d\n" % (n, n, n) for n in range(100_000))
    data = b"id,amount,note\n" + rows
    converted, curated, parts = _read(database, data, {"amount": DOUBLE}, piece_bytes=SMALL_PIECE)
    assert parts > 1  # converted piece by piece while it arrived
    assert _types(converted) == {"id": "BIGINT", "amount": "DOUBLE", "note": "VARCHAR"}
    assert (len(curated), curated[-1]) == (100_000, (99_999, 99_999.0, "note 99999"))
    misfit = data + b"100000,twelve,last\n"
    assert _refused(database, misfit, {"amount": BIGINT, "note": VARCHAR}, piece_bytes=SMALL_PIECE) == (
        'Line 100002: column "amount" holds "twelve", which does not fit the table\'s type bigint.'
    )


def test_a_csv_number_with_a_fraction_does_not_fit_an_integer_column(database: ConversionDatabase) -> None:
    """DuckDB's reader would round it (DuckDB issue 25824): a table's integer column is read as text
    and cast here, whole numbers only, and the line found in the file."""
    data = b'id,amount,note\n1,12,a\n2, 7 ,"two\nlines"\n3,12.5,c\n'
    assert _refused(database, data, {"amount": BIGINT}) == (
        'Line 5: column "amount" holds "12.5", which does not fit the table\'s type bigint.'
    )
    converted, rows, _ = _read(database, b"id,amount\n1,-12\n2, 7 \n3,\n", {"amount": BIGINT})
    assert converted.columns[1] == Column("amount", "amount", BIGINT)
    assert sorted(rows) == [(1, -12), (2, 7), (3, None)]
    assert _refused(database, b"id,amount\n1,99999999999999999999\n", {"amount": BIGINT}).startswith(
        'Line 2: column "amount" holds "99999999999999999999"'
    )


@pytest.mark.parametrize(("value", "shown"), [(12.5, "12.5"), (True, "true"), ("7", '"7"'), (2**63, str(2**63))])
def test_a_json_value_that_is_no_whole_number_does_not_fit_an_integer_column(
    database: ConversionDatabase, value: Any, shown: str
) -> None:
    """DuckDB's JSON reader would round 12.5 and read true as 1 (DuckDB issue 25824): a table's
    integer field is read as its JSON text and cast here, whole numbers of the type's range only."""
    data = _lines({"id": 1, "amount": 12}, {"id": 2, "amount": None}, {"id": 3, "amount": value})
    assert _refused(database, data, {"amount": BIGINT}) == (
        f'Line 3: column "amount" holds {shown}, which does not fit the table\'s type bigint.'
    )
    converted, rows, _ = _read(database, _lines({"id": 1, "amount": 12}, {"id": 2, "amount": None}), {"amount": BIGINT})
    assert (converted.columns[1], sorted(rows)) == (Column("amount", "amount", BIGINT), [(1, 12), (2, None)])


# JSON Lines ---------------------------------------------------------------------------------------

PEOPLE = _lines(
    {"id": 1, "Amount": 10, "code": 7, "person": {"firstName": "Ada"}},
    {"id": 2, "Amount": 20, "code": 12, "person": {"firstName": "Bo"}, "vip": True},
)


def test_json_lines_have_the_tables_types_and_their_new_fields_are_inferred(database: ConversionDatabase) -> None:
    """Amount and code would be inferred bigint: the table says double and varchar. The
    table's struct names its field as it was made safe (firstname); the file's firstName still
    fills it. id and vip are new; the table's `region` is not in the file."""
    fixed = {"amount": DOUBLE, "code": VARCHAR, "person": PERSON, "region": VARCHAR}
    converted, rows, _ = _read(database, PEOPLE, fixed)
    assert converted.columns == [
        Column("id", "id", BIGINT),
        Column("amount", "Amount", DOUBLE),
        Column("code", "code", VARCHAR),
        Column("person", "person", PERSON),
        Column("vip", "vip", BOOLEAN),
    ]
    assert rows == [(1, 10.0, "7", {"firstname": "Ada"}, None), (2, 20.0, "12", {"firstname": "Bo"}, True)]


def test_json_lines_without_the_tables_types_are_read_as_ever(database: ConversionDatabase) -> None:
    converted, rows, _ = _read(database, PEOPLE)
    assert _types(converted) == {
        "id": "BIGINT",
        "amount": "BIGINT",
        "code": "BIGINT",
        "person": 'STRUCT("firstname" VARCHAR)',
        "vip": "BOOLEAN",
    }
    assert rows == [(1, 10, 7, {"firstname": "Ada"}, None), (2, 20, 12, {"firstname": "Bo"}, True)]


def test_a_json_value_that_does_not_fit_the_tables_type_is_a_schema_mismatch(database: ConversionDatabase) -> None:
    data = _lines({"id": 1, "amount": 10}, {"id": 2, "amount": "n/a"})
    assert _refused(database, data, {"amount": BIGINT, "id": BIGINT}) == (
        'Line 2: column "amount" holds "n/a", which does not fit the table\'s type bigint.'
    )


def test_a_json_misfit_is_found_on_its_own_line_though_duckdb_names_its_batchs_first(
    database: ConversionDatabase,
) -> None:
    """DuckDB says line 2049 (the first of the batch it was reading) for a date on line 2100."""
    records = [{"id": n, "day": "2024-01-01"} for n in range(3000)]
    records[2099] = {"id": 2099, "day": "n/a"}
    assert _refused(database, _lines(*records), {"day": DATE, "id": INTEGER}) == (
        'Line 2100: column "day" holds "n/a", which does not fit the table\'s type date.'
    )


def test_a_json_struct_misfit_names_the_whole_value(database: ConversionDatabase) -> None:
    person = ColumnType('STRUCT("firstname" BIGINT)', "row(firstname bigint)", "struct<firstname:bigint>")
    assert _refused(database, PEOPLE, {"person": person}) == (
        'Line 1: column "person" holds {"firstName": "Ada"}, which does not fit the table\'s type '
        "row(firstname bigint)."
    )


def test_json_fields_whose_names_differ_only_in_case_cannot_be_matched_to_the_tables_columns(
    database: ConversionDatabase,
) -> None:
    """DuckDB names the later one `a_1`, a name the records do not have (or another field's)."""
    data = _lines({"A": 1, "a": 2, "a_1": 3, "b_2": 4})
    assert _types(_read(database, data)[0]) == {"a": "BIGINT", "a_1": "BIGINT", "a_1_1": "BIGINT", "b_2": "BIGINT"}
    assert _refused(database, data, {"a": BIGINT, "a_1": BIGINT}) == (
        'The records have fields whose names differ only in case ("A", "a"): they cannot be matched to the '
        "table's columns. Rename all but one of them."
    )
    assert _types(_read(database, _lines({"a": 1, "a_1": 2}), {"a_1": DOUBLE})[0]) == {"a": "BIGINT", "a_1": "DOUBLE"}


def test_sparse_json_records_are_still_rows_with_the_tables_types(database: ConversionDatabase) -> None:
    """Records whose fields most others lack are read as rows, not maps, the table's types or not."""
    data = _lines(*({"id": n, f"k{n}": n} for n in range(300)))
    converted, rows, _ = _read(database, data, {"id": DOUBLE, "k5": VARCHAR})
    assert len(converted.columns) == 301
    assert (converted.columns[0].type, converted.columns[6]) == (DOUBLE, Column("k5", "k5", VARCHAR))
    assert rows[5][:7] == (5.0, None, None, None, None, None, "5")


# Parquet ------------------------------------------------------------------------------------------


def test_parquet_columns_of_the_tables_types_or_widening_to_them_are_read(database: ConversionDatabase) -> None:
    table = pa.table(
        {
            "id": pa.array([1, 2], pa.int32()),
            "Amount": pa.array([1.5, 2.25], pa.float32()),
            "count": pa.array([3, 4], pa.int16()),
            "note": ["a", "b"],
            "day": pa.array([None, None], pa.int64()),
        }
    )
    fixed = {"id": BIGINT, "amount": DOUBLE, "count": DOUBLE, "note": VARCHAR, "day": DATE, "region": VARCHAR}
    converted, rows, _ = _read(database, parquet(table), fixed)
    assert converted.columns == [
        Column("id", "id", BIGINT),
        Column("amount", "Amount", DOUBLE),
        Column("count", "count", DOUBLE),
        Column("note", "note", VARCHAR),
        Column("day", "day", DATE),  # no value at all: none that does not fit
    ]
    assert rows == [(1, 1.5, 3.0, "a", None), (2, 2.25, 4.0, "b", None)]
    new = _read(database, parquet(table), {"other": VARCHAR})[0]
    assert new == _read(database, parquet(table))[0]
    assert _types(new) == {"id": "INTEGER", "amount": "FLOAT", "count": "SMALLINT", "note": "VARCHAR", "day": "BIGINT"}


MISFITS: list[tuple[str, pa.Array, ColumnType, str]] = [
    ("a real into an integer", pa.array([None, 1.5]), BIGINT, 'Row 2: column "amount" holds 1.5 (double)'),
    ("a wider integer", pa.array([7, 8], pa.int64()), INTEGER, 'Row 1: column "amount" holds 7 (bigint)'),
    ("a number into text", pa.array([7, 8], pa.int64()), VARCHAR, 'Row 1: column "amount" holds 7 (bigint)'),
    ("text into a number", pa.array([None, "x"]), DOUBLE, 'Row 2: column "amount" holds "x" (varchar)'),
    (
        "a date into a timestamp",
        pa.array([None, 0], pa.date32()),
        TIMESTAMP,
        'Row 2: column "amount" holds 1970-01-01 (date)',
    ),
]


@pytest.mark.parametrize(("case", "values", "table", "says"), MISFITS, ids=[case[0] for case in MISFITS])
def test_a_parquet_column_that_does_not_fit_the_tables_type_is_a_schema_mismatch(
    database: ConversionDatabase, case: str, values: pa.Array, table: ColumnType, says: str
) -> None:
    data = parquet(pa.table({"id": [1, 2], "amount": values}))
    assert _refused(database, data, {"amount": table}) == f"{says}, which does not fit the table's type {table.athena}."
