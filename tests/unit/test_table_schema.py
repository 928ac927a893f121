"""How a file's columns meet its table's: matched by name, only ever added, drift reported; and
what a search asks of DynamoDB."""

from __future__ import annotations

import pytest

from chalicelib.columns import Column, ColumnType
from chalicelib.errors import BadRequest
from chalicelib.files.search import MAX_ENTRY_CHARS, Search, entry
from chalicelib.files.tables import SchemaMoved, Table, TableColumn, check_table_name, merged_columns

BIGINT = ColumnType("BIGINT", "bigint", "bigint")
DOUBLE = ColumnType("DOUBLE", "double", "double")
TEXT = ColumnType("VARCHAR", "varchar", "string")
TABLE = Table(
    name="sales",
    table_id="T",
    created_at="2026-01-01T00:00:00.000Z",
    columns=(TableColumn("region", None, TEXT, "F1", "then"), TableColumn("amount", None, DOUBLE, "F1", "then")),
    file_count=2,
)


def test_a_file_adds_the_columns_the_table_lacks_and_reports_those_it_lacks() -> None:
    columns, added, missing = merged_columns(
        TABLE, [Column("amount", None, DOUBLE), Column("channel", "Channel", TEXT)], "F3", replacing_itself=False
    )
    assert [(c.name, c.added_by) for c in columns] == [("region", "F1"), ("amount", "F1"), ("channel", "F3")]
    assert columns[2].original_name == "Channel"
    assert (added, missing) == (("channel",), ("region",))


def test_a_column_of_another_type_sends_the_file_back_to_be_read_with_the_tables() -> None:
    with pytest.raises(SchemaMoved):
        merged_columns(TABLE, [Column("amount", None, BIGINT)], "F3", replacing_itself=False)


def test_the_only_file_read_again_sets_the_columns_afresh_keeping_those_unchanged() -> None:
    columns, added, missing = merged_columns(
        TABLE, [Column("region", None, TEXT), Column("amount", None, BIGINT)], "F1", replacing_itself=True
    )
    assert [(c.name, c.type, c.added_at) for c in columns] == [
        ("region", TEXT, "then"),
        ("amount", BIGINT, columns[1].added_at),
    ]
    assert columns[1].added_at != "then"
    assert (added, missing) == ((), ())


@pytest.mark.parametrize("name", ["sales", "_x", "t_2024", "a" * 120])
def test_a_table_name_of_the_rule_is_taken(name: str) -> None:
    assert check_table_name(name) == name


@pytest.mark.parametrize("name", ["", "Sales", "2024", "a-b", "a" * 121, "__", "é", "a b"])
def test_a_table_name_against_the_rule_is_400(name: str) -> None:
    with pytest.raises(BadRequest) as refused:
        check_table_name(name)
    assert refused.value.code == "invalid_table_name"


def test_a_search_finds_an_entry_by_a_piece_of_one_of_its_names_and_by_its_exact_fields() -> None:
    line = entry(
        ["Sales 2024.csv", "sales"],
        [{"name": "Region", "type": "varchar"}, {"name": "n", "type": "bigint"}],
        "READY",
        "csv",
    )
    assert line == "READY\tcsv\tbigint,varchar\tsales 2024.csv\nsales\nregion\nn"
    search = Search.of({"q": "SALES 20", "status": "READY", "format": "csv", "column_type": "BIGINT"}, files=True)
    assert search is not None
    assert search.finds(line)
    assert search.scope == "column_type=bigint&format=csv&status=READY&text=sales 20"
    for other in (
        {"q": "nothing"},
        {"status": "FAILED"},
        {"format": "tsv"},
        {"column_type": "double"},
    ):
        found = Search.of(other, files=True)
        assert found is not None
        assert not found.finds(line), other
    assert Search(text="bigint").finds(line) is False  # a type is no name
    assert Search(text="csv\nsales").finds(line) is False  # a piece of one name, never across two
    assert Search.of({"limit": "3"}, files=True) is None


def test_an_entry_is_cut_short_rather_than_grow_its_bucket_past_its_share() -> None:
    many = [{"name": f"column_{n}", "type": "bigint"} for n in range(1000)]
    line = entry(["wide.csv"], many, "READY", "csv")
    assert len(line) == MAX_ENTRY_CHARS
    assert Search(text="column_1").finds(line)
