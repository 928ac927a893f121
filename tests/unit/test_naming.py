from __future__ import annotations

import pytest

from chalicelib.ingest.naming import column_names, table_base_name


@pytest.mark.parametrize(
    ("file_name", "table"),
    [
        ("Sales 2024.csv.gz", "sales_2024"),
        ("sales 2024.csv", "sales_2024"),
        ("orders.parquet", "orders"),
        ("events.jsonl", "events"),
        ("events.ndjson.gz", "events"),
        ("notes.txt", "notes"),
        ("data.json", "data"),
        ("archive.tar.gz", "archive_tar"),
        ("2024 report.csv", "t_2024_report"),
        ("Ümlaut—Straße.tsv", "_mlaut_stra_e"),
        ("a..b--c.csv", "a_b_c"),
        ("UPPER_case_1.CSV", "upper_case_1"),
        ("no extension", "no_extension"),
        (".csv", "table"),
        ("€€€.csv", "table"),
        ("x" * 300 + ".csv", "x" * 120),
    ],
)
def test_table_names_follow_the_api_rule(file_name: str, table: str) -> None:
    assert table_base_name(file_name) == table


def test_column_names_are_safe_unique_and_never_empty() -> None:
    assert column_names(
        ["Order ID", "order id", "2024", "", "Amount (€)", "amount", " spaced ", "a-b", "order_id_2"]
    ) == [
        "order_id",
        "order_id_2",
        "c_2024",
        "column_4",
        "amount",
        "amount_2",
        "spaced",
        "a_b",
        "order_id_2_2",
    ]
