"""Query economics with the `sdp` command against the local platform, as a subprocess: estimates that read
only the columns a query names, a monthly scan budget that refuses a query, usage, a result reused, and
saved queries shared by a tenant's members (a viewer runs them but cannot save or delete them)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from sdp.errors import size_text
from tests.api import PASSWORD, unique_email
from tests.cli import Terminal
from tests.local_platform import RunningPlatform

pytestmark = pytest.mark.e2e

TOTALS = "SELECT region, sum(amount) AS total FROM sales GROUP BY region ORDER BY region"


def _sales(path: Path, rows: int = 5_000) -> None:
    """Sales with a wide text column: reading `amount` alone reads far fewer bytes than reading every column."""
    with path.open("w") as target:
        target.write("region,amount,note\n")
        for n in range(rows):
            target.write(f"{('north', 'south')[n % 2]},{n % 7},note {n} {'x' * (40 + n % 13)} {n * 7919 % 10007}\n")


@pytest.fixture
def ann(running_platform: RunningPlatform, tmp_path: Path) -> Terminal:
    shell = Terminal(running_platform.api_url, tmp_path / "ann")
    shell.home.mkdir()
    shell.sign_up(unique_email("ann"))
    _sales(shell.home / "sales.csv")
    assert "sales.csv → table sales: 5,000 rows, 3 columns" in shell.ok("upload", "sales.csv").stderr
    return shell


def test_dry_run_reads_only_named_columns_and_a_budget_refuses_a_query_until_removed(ann: Terminal) -> None:
    one = json.loads(ann.ok("query", "--dry-run", "--json", "SELECT amount FROM sales").stdout)
    every = json.loads(ann.ok("query", "--dry-run", "--json", "SELECT * FROM sales").stdout)
    assert 0 < one["bytes_to_scan"] < every["bytes_to_scan"]
    assert (one["tables"], one["columns"]) == (["sales"], {"sales": ["amount"]})
    assert every["columns"] == {"sales": ["amount", "note", "region"]}
    assert one["billed_bytes"] >= 10 * 1000 * 1000
    assert (one["within_budget"], one["remaining_scan_bytes"]) == (True, None)

    shown = ann.ok("query", "--dry-run", "SELECT amount FROM sales")
    assert "Dry run: nothing ran." in shown.stderr
    lines = dict(line.strip().split("  ", 1) for line in shown.stdout.splitlines())
    assert lines["bytes to scan"] == size_text(one["bytes_to_scan"])
    assert lines["billed"] == f"{size_text(one['billed_bytes'])}: whole MiB, 10 MiB at least"
    assert lines["estimated cost"].startswith("$0.0000")
    assert (lines["tables"], lines["columns"], lines["budget"]) == (
        "sales",
        "sales: amount",
        "no monthly scan budget set",
    )
    assert json.loads(ann.ok("queries", "--json").stdout) == []  # a dry run stores no query

    refused = ann.run("query", "--dry-run", "SELECT * FROM nosuch")
    assert refused.code == 1
    assert "error: forbidden_sql: Table 'nosuch' does not exist" in refused.stderr
    assert "(request id " in refused.stderr

    # A budget in binary units, then one too small for the table: the query is refused with what is left.
    assert "is now 1.6 TB (1,649,267,441,664 bytes)." in ann.ok("budget", "set", "1.5TiB").stderr
    assert json.loads(ann.ok("usage", "--json").stdout)["monthly_scan_budget_bytes"] == 1_649_267_441_664
    ann.ok("budget", "set", "100B")
    over = ann.run("query", "SELECT * FROM sales")
    assert (over.code, over.stdout) == (1, "")
    said = " ".join(over.stderr.split())
    assert "error: budget_exceeded: The query would scan more than is left of this month's scan budget: " in said
    assert "100 bytes left until the budget resets " in said
    assert " UTC. (request id " in said
    estimate = ann.ok("query", "--dry-run", "SELECT * FROM sales")  # an estimate over budget is no error
    assert "OVER BUDGET: 100 bytes left until" in estimate.stdout
    assert json.loads(ann.ok("query", "--dry-run", "--json", "SELECT * FROM sales").stdout)["within_budget"] is False
    bad = ann.run("budget", "set", "12 parsecs")
    assert bad.code == 2
    assert "'12 parsecs' is not a size" in bad.stderr

    assert "Removed the monthly scan budget" in ann.ok("budget", "set", "none").stderr
    first = ann.ok("query", TOTALS)
    expected = [["region", "total"], ["north", "7497"], ["south", "7498"]]
    assert list(csv.reader(io.StringIO(first.stdout))) == expected
    assert "Reused" not in first.stderr
    again = ann.ok("query", TOTALS)  # the same query over the same tables: the earlier result
    assert list(csv.reader(io.StringIO(again.stdout))) == expected
    assert "Reused the result of an earlier identical query: nothing was scanned." in again.stderr
    assert "0 bytes scanned" in again.stderr
    history = json.loads(ann.ok("queries", "--json").stdout)
    assert [q["reused"] for q in history[:2]] == [True, False]

    used = json.loads(ann.ok("usage", "--json").stdout)
    assert used["query_count"] >= 1
    assert used["bytes_scanned"] > 0
    assert (used["monthly_scan_budget_bytes"], used["remaining_scan_bytes"]) == (None, None)
    assert (used["file_count"], used["quota_files"] > 0) == (1, True)
    table = [line.split() for line in ann.ok("usage").stdout.splitlines()]
    assert table[0] == ["USAGE", "USED", "LIMIT", "LEFT"]
    assert table[1][0] == "storage"
    assert table[2][:2] == ["files", "1"]
    assert table[3][:3] == ["scanned", "in", used["month"]]
    assert table[3][-2:] == ["no", "budget"]
    assert table[4] == ["queries", "in", used["month"], f"{used['query_count']:,}"]
    assert table[5][:-3] == ["The", "month's", "scans", "and", "queries", "count", "from", "zero", "again"]


def test_saved_queries_are_shared_and_a_viewer_runs_them_but_cannot_save_or_delete(
    running_platform: RunningPlatform, ann: Terminal, tmp_path: Path
) -> None:
    ann_email = json.loads(ann.ok("whoami", "--json").stdout)["email"]
    saved = ann.ok("saved", "save", "region totals", TOTALS, "--description", "Sales by region")
    totals_id = saved.stdout.strip()
    assert f"Saved 'region totals' as {totals_id}." in saved.stderr
    (ann.home / "count.sql").write_text("SELECT count(*) AS n\nFROM sales\n")
    count_id = ann.ok("saved", "save", "row count", "--file", "count.sql").stdout.strip()

    listed = [line.split() for line in ann.ok("saved", "ls").stdout.splitlines()]
    assert listed[0] == ["ID", "NAME", "AUTHOR", "UPDATED", "(UTC)"]
    assert [row[:4] for row in listed[1:]] == [
        [count_id, "row", "count", ann_email],
        [totals_id, "region", "totals", ann_email],
    ]
    as_json = json.loads(ann.ok("saved", "ls", "--json").stdout)
    assert [(s["name"], s["description"]) for s in as_json] == [
        ("row count", None),
        ("region totals", "Sales by region"),
    ]

    shown = [line.strip() for line in ann.ok("saved", "show", "region totals").stdout.splitlines()]
    assert shown[0] == f"id  {totals_id}"
    assert "description  Sales by region" in shown
    assert shown[-1] == TOTALS
    assert json.loads(ann.ok("saved", "show", count_id, "--json").stdout)["sql"] == "SELECT count(*) AS n\nFROM sales\n"

    expected = [["region", "total"], ["north", "7497"], ["south", "7498"]]
    assert list(csv.reader(io.StringIO(ann.ok("saved", "run", "region totals").stdout))) == expected
    rows = ann.ok("saved", "run", count_id, "--format", "json").stdout.splitlines()
    assert [json.loads(row) for row in rows] == [{"n": 5000}]
    ann.ok("saved", "run", "region totals", "--output", "totals.csv")
    assert list(csv.reader((ann.home / "totals.csv").open())) == expected

    # A viewer of the same tenant lists, shows and runs them; saving, deleting and the budget are not theirs.
    bob_email = unique_email("bob")
    ann.ok("members", "add", bob_email, "--role", "viewer", "--password-stdin", stdin=PASSWORD + "\n")
    bob = Terminal(running_platform.api_url, tmp_path / "bob")
    bob.home.mkdir()
    bob.ok("login", "--email", bob_email, "--password-stdin", stdin=PASSWORD)
    assert [s["saved_query_id"] for s in json.loads(bob.ok("saved", "ls", "--json").stdout)] == [count_id, totals_id]
    assert list(csv.reader(io.StringIO(bob.ok("saved", "run", "region totals").stdout))) == expected
    refused = bob.run("saved", "save", "mine", "SELECT 1")
    assert (refused.code, refused.stdout) == (1, "")
    assert "error: forbidden: Only analysts and admins can save queries: a viewer can list, show and run them." in (
        refused.stderr
    )
    kept = bob.run("saved", "rm", "row count")
    assert kept.code == 1
    assert "error: row count: forbidden: Only its author or an admin can delete a saved query." in kept.stderr
    no_budget = bob.run("budget", "set", "1GB")
    assert no_budget.code == 1
    assert "error: forbidden: Only an admin can set the tenant's scan budget" in no_budget.stderr
    assert json.loads(bob.ok("usage", "--json").stdout)["file_count"] == 1  # usage is every member's

    # A second query of the same name makes the name ambiguous: the ids tell them apart.
    twin_id = ann.ok("saved", "save", "row count", "SELECT count(*) AS n FROM sales WHERE amount > 3").stdout.strip()
    ambiguous = ann.run("saved", "run", "row count")
    assert (ambiguous.code, ambiguous.stdout) == (1, "")
    said = " ".join(ambiguous.stderr.split())
    assert "error: ambiguous_name: 2 saved queries are named 'row count':" in said
    assert twin_id in said
    assert count_id in said
    missing = ann.run("saved", "show", "nosuch")
    assert missing.code == 1
    assert "saved_query_not_found: No saved query has the id or name 'nosuch'" in missing.stderr

    removed = ann.ok("saved", "rm", twin_id, "row count", "region totals")
    assert f"Deleted 'row count' ({twin_id})." in removed.stderr
    assert f"Deleted 'row count' ({count_id})." in removed.stderr
    assert f"Deleted 'region totals' ({totals_id})." in removed.stderr
    assert json.loads(ann.ok("saved", "ls", "--json").stdout) == []
    assert ann.ok("saved", "ls").stderr.strip() == "No saved queries."
    gone = ann.run("saved", "run", totals_id)
    assert gone.code == 1
    assert "saved_query_not_found" in gone.stderr
