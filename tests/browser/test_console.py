"""The console as people use it: found by roles and accessible names, in headless Chromium, against
the local platform. Each main screen is photographed (out/artifacts/console/)."""

from __future__ import annotations

import csv
import gzip
import io
import re
from pathlib import Path

import pyarrow
import pyarrow.parquet
import pytest
import requests
from playwright.sync_api import Browser, Page, Response, expect

from tests.api import ENDLESS_QUERY, PASSWORD, Account, HttpApi, add_member, ingested_table, sign_up, unique_email
from tests.browser.conftest import Console
from tests.local_platform import RunningPlatform

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

# The console's whole first load (sign-in page with its modules) must stay under this, compressed.
FIRST_LOAD_BUDGET = 300 * 1024


def account_with_table(
    running_platform: RunningPlatform, label: str, name: str, data: bytes
) -> tuple[HttpApi, Account]:
    """A new tenant, made through the API, whose admin has one READY table made of `data`."""
    api = HttpApi(running_platform.api_url)
    account = sign_up(api, label)
    ingested_table(api, account, name, data)
    return api, account


def create_account(page: Page, email: str) -> None:
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Files")).to_be_visible()


def sign_in(page: Page, email: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Files")).to_be_visible()


def file_row(page: Page, name: str, status: str) -> None:
    """Wait until the files table shows `name` with `status`."""
    row = (
        page.get_by_role("table", name="Files")
        .get_by_role("row")
        .filter(has=page.get_by_role("rowheader", name=name, exact=True))
    )
    expect(row).to_contain_text(status, timeout=60_000)


def write_sql(page: Page, sql: str) -> None:
    editor = page.get_by_role("textbox", name="SQL")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    editor.press_sequentially(sql)


def results(page: Page) -> list[list[str]]:
    table = page.get_by_role("table", name="Results")
    expect(table).to_be_visible(timeout=60_000)
    return [[cell.inner_text() for cell in row.get_by_role("cell").all()] for row in table.locator("tbody tr").all()]


def test_a_new_user_signs_up_uploads_a_csv_and_a_parquet_file_and_queries_them(
    console: Console, tmp_path: Path
) -> None:
    page = console.page
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("Local platform on this computer")).to_be_visible()
    console.screenshot("sign-in")
    create_account(page, unique_email("console"))
    console.screenshot("files-empty")

    (tmp_path / "sales.csv").write_text("region,amount\nnorth,10\nsouth,3\nnorth,5\n")
    pyarrow.parquet.write_table(
        pyarrow.table({"region": ["east", "north"], "amount": [7, 1]}), tmp_path / "more_sales.parquet"
    )
    page.get_by_label("Upload files").set_input_files([tmp_path / "sales.csv", tmp_path / "more_sales.parquet"])
    file_row(page, "sales.csv", "READY")
    file_row(page, "more_sales.parquet", "READY")
    sales = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="sales.csv", exact=True))
    expect(sales).to_contain_text("3")  # rows
    console.screenshot("files")

    page.get_by_role("link", name="Tables").click()
    tables = page.get_by_role("region", name="sales", exact=True)
    expect(tables.get_by_role("table", name="Columns of sales")).to_contain_text("amount")
    expect(tables.get_by_role("table", name="Columns of sales")).to_contain_text("bigint")
    tables.get_by_role("button", name="Preview sales").click()
    expect(page.get_by_role("table", name="Preview of sales")).to_contain_text("north")
    console.screenshot("tables")

    page.get_by_role("link", name="Query").click()
    write_sql(
        page,
        "SELECT region, sum(amount) AS total\nFROM (SELECT region, amount FROM sales UNION ALL "
        "SELECT region, amount FROM more_sales)\nGROUP BY region ORDER BY region",
    )
    page.keyboard.press("Control+Enter")
    assert results(page) == [["east", "7"], ["north", "16"], ["south", "3"]]
    expect(page.get_by_role("status")).to_have_text("SUCCEEDED")
    console.screenshot("query")

    # A result longer than a page: the grid shows a page, more on demand, the CSV all of it.
    write_sql(page, "SELECT x, x * x AS square FROM UNNEST(sequence(1, 250)) AS t(x) ORDER BY x")
    page.get_by_role("button", name="Run", exact=True).click()
    assert len(results(page)) == 100
    expect(page.get_by_text("Showing 100 of 250 rows")).to_be_visible()
    page.get_by_role("button", name="Load more rows").click()
    expect(page.get_by_text("Showing 200 of 250 rows")).to_be_visible()
    with page.expect_download() as downloading:
        page.get_by_role("button", name="Download CSV").click()
    rows = list(csv.reader(io.StringIO(Path(downloading.value.path()).read_text())))
    assert rows[0] == ["x", "square"]
    assert rows[1:] == [[str(x), str(x * x)] for x in range(1, 251)]

    # The history opens an earlier result and runs it again.
    history = page.get_by_role("table", name="Query history")
    earlier = history.get_by_role("row").filter(has_text="UNION ALL")
    earlier.get_by_role("button", name="Open").click()
    expect(page.get_by_text("Showing 3 of 3 rows")).to_be_visible()
    assert results(page) == [["east", "7"], ["north", "16"], ["south", "3"]]
    earlier.get_by_role("button", name="Run again").click()
    expect(history.get_by_role("row").filter(has_text="UNION ALL")).to_have_count(2)

    # The session outlives a reload; signing out ends it.
    page.reload()
    expect(page.get_by_role("heading", name="Query")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_files_go_into_one_table_whose_page_shows_them_and_files_and_tables_are_searched(
    console: Console, tmp_path: Path
) -> None:
    page = console.page
    create_account(page, unique_email("many"))
    (tmp_path / "jan.csv").write_text("region,amount\nnorth,10\nsouth,3\n")
    (tmp_path / "feb.csv").write_text("region,amount,channel\nnorth,5,web\neast,7,shop\nwest,1,web\n")
    (tmp_path / "people.csv").write_text("name,age\nada,36\n")
    upload = page.get_by_label("Upload files")
    into = page.get_by_role("combobox", name="Add to table")

    # A name the API would refuse is refused in the page, and nothing is sent.
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if "/uploads" in request.url else None)
    into.fill("Sales")
    upload.set_input_files(tmp_path / "jan.csv")
    expect(page.get_by_role("alert")).to_contain_text("Write it in lower case: sales.")
    expect(into).to_be_focused()
    expect(into).to_have_attribute("aria-invalid", "true")
    assert sent == []
    console.screenshot("files-table-name-refused")

    # Two files into one table, one after the other; a third gets a table of its own.
    into.fill("sales")
    expect(page.get_by_role("alert")).to_have_count(0)
    upload.set_input_files(tmp_path / "jan.csv")
    file_row(page, "jan.csv", "READY")
    upload.set_input_files(tmp_path / "feb.csv")
    file_row(page, "feb.csv", "READY")
    feb = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="feb.csv", exact=True))
    expect(feb.get_by_role("link", name="sales", exact=True)).to_be_visible()
    expect(feb).to_contain_text("added channel")
    console.screenshot("files-into-table")
    into.fill("")
    upload.set_input_files(tmp_path / "people.csv")
    file_row(page, "people.csv", "READY")
    assert len(sent) == 3

    # Files searched by a piece of a table's or column's name, then by status too; cleared, all again.
    names = page.get_by_role("table", name="Files").get_by_role("rowheader")
    search = page.get_by_role("searchbox", name="Search files")
    search.fill("SALE")
    expect(names).to_have_text(["feb.csv", "jan.csv"])
    expect(page.get_by_role("status")).to_have_text("2 files found")
    console.screenshot("files-search")
    search.fill("chan")
    expect(names).to_have_text(["feb.csv"])
    page.get_by_label("Status").select_option("FAILED")
    expect(page.get_by_text("No files match this search.")).to_be_visible()
    page.get_by_label("Status").select_option("")
    search.fill("")
    expect(names).to_have_text(["people.csv", "feb.csv", "jan.csv"])

    # Tables: each links to its page and counts its files; searched by a column's name.
    page.get_by_role("link", name="Tables", exact=True).click()
    sales = page.get_by_role("region", name="sales", exact=True)
    expect(sales).to_contain_text("5 rows · 2 files · 3 columns")
    headings = page.get_by_role("heading", level=2)
    expect(headings).to_have_text(["people", "sales"])
    page.get_by_role("searchbox", name="Search tables").fill("age")
    expect(headings).to_have_text(["people"])
    page.get_by_label("Search tables").fill("")
    expect(headings).to_have_text(["people", "sales"])
    page.get_by_label("Column type").select_option("varchar")
    expect(headings).to_have_text(["people", "sales"])
    page.get_by_role("searchbox", name="Search tables").fill("chan")
    expect(headings).to_have_text(["sales"])
    console.screenshot("tables-search")

    # The table's page: its two files, what each added or lacked, and which file added each column.
    sales.get_by_role("link", name="sales", exact=True).click()
    expect(page.get_by_role("heading", name="sales", level=1)).to_be_visible()
    expect(page.get_by_text("5 rows · 2 files · 3 columns")).to_be_visible()
    files = page.get_by_role("table", name="Files of sales")
    expect(files.get_by_role("rowheader")).to_have_text(["jan.csv", "feb.csv"])
    rows_of = [[cell.inner_text() for cell in row.get_by_role("cell").all()] for row in files.locator("tbody tr").all()]
    assert [row[0] for row in rows_of] == ["2", "3"]
    assert [row[2:] for row in rows_of] == [["region, amount", "none"], ["channel", "none"]]
    history = page.get_by_role("table", name="Schema history of sales")
    entries = [[cell.inner_text() for cell in row.locator("th, td").all()] for row in history.locator("tbody tr").all()]
    assert [entry[:3] for entry in entries] == [
        ["region", "varchar", "jan.csv"],
        ["amount", "bigint", "jan.csv"],
        ["channel", "varchar", "feb.csv"],
    ]
    expect(page.get_by_role("link", name="Tables", exact=True)).to_have_attribute("aria-current", "page")
    console.screenshot("table")

    # A table that is not one of yours says so.
    page.goto(console.url + "#/tables/nowhere")
    expect(page.get_by_role("heading", name="nowhere", level=1)).to_be_visible()
    expect(page.get_by_text("Tables lists the tables you have.")).to_be_visible()
    console.screenshot("table-not-found")


def test_another_account_sees_none_of_the_first_accounts_files_or_tables(
    console: Console, running_platform: RunningPlatform
) -> None:
    account_with_table(running_platform, "first", "secret_sales.csv", b"region,amount\nnorth,10\n")
    page = console.page
    create_account(page, unique_email("second"))
    expect(page.get_by_text("No files yet")).to_be_visible()
    page.get_by_role("link", name="Tables").click()
    expect(page.get_by_text("No tables yet")).to_be_visible()
    page.get_by_role("link", name="Query").click()
    write_sql(page, "SELECT * FROM secret_sales")
    page.get_by_role("button", name="Run", exact=True).click()
    refusal = page.locator(".refusal")
    expect(refusal).to_contain_text("secret_sales")
    expect(refusal).to_contain_text("Request id:")
    expect(page.get_by_role("table", name="Results")).to_have_count(0)


def test_refused_sql_shows_the_message_and_marks_its_line_and_column(console: Console) -> None:
    page = console.page
    create_account(page, unique_email("typo"))
    page.get_by_role("link", name="Query").click()
    expect(page.get_by_text("No queries yet.")).to_be_visible()
    write_sql(page, "SELECT 1,\nFROM nowhere WHERE")
    page.get_by_role("button", name="Run", exact=True).click()
    refusal = page.locator(".refusal")
    expect(refusal).to_contain_text("Syntax error at line 2, column 18")
    point = page.get_by_label("Line 2, column 18")
    expect(point).to_have_text(re.compile(r"2 \| FROM nowhere WHERE\s+\^{5}$"))
    # The editor marks the same word.
    expect(page.locator(".editor").locator(".cm-sql-error")).to_have_text("WHERE")
    console.screenshot("query-refused")


def test_a_failed_file_shows_its_reason(console: Console, tmp_path: Path) -> None:
    page = console.page
    create_account(page, unique_email("broken"))
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not a Parquet file PAR1")
    page.get_by_label("Upload files").set_input_files(tmp_path / "broken.parquet")
    file_row(page, "broken.parquet", "FAILED")
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="broken.parquet", exact=True))
    expect(row).to_contain_text("malformed_file")
    console.screenshot("files-failed")


def test_a_viewer_sees_no_upload_delete_or_members_controls(
    console: Console, running_platform: RunningPlatform
) -> None:
    api, admin = account_with_table(running_platform, "admin", "shared.csv", b"a,b\n1,2\n")
    viewer = add_member(api, admin, "viewer")

    page = console.page
    sign_in(page, viewer.email)
    file_row(page, "shared.csv", "READY")
    expect(page.get_by_label("Upload files")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete shared.csv")).to_have_count(0)
    expect(page.get_by_role("link", name="Members")).to_be_hidden()
    page.goto(console.url + "#/members")
    expect(page.get_by_role("heading", name="Files")).to_be_visible()
    expect(page.get_by_role("table", name="Members")).to_have_count(0)


def test_an_admin_manages_members_with_the_role_rules(console: Console) -> None:
    page = console.page
    me = unique_email("boss")
    create_account(page, me)
    page.get_by_role("link", name="Members").click()
    members = page.get_by_role("table", name="Members")
    expect(members).to_contain_text(me)

    newcomer = unique_email("newcomer")
    form = page.get_by_role("form", name="Add a member")
    form.get_by_label("Email").fill(newcomer)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_label("Role").select_option("viewer")
    form.get_by_role("button", name="Add member").click()
    expect(members).to_contain_text(newcomer)
    page.get_by_label(f"Role of {newcomer}", exact=True).select_option("analyst")
    page.get_by_role("button", name=f"Save role of {newcomer}").click()
    expect(page.get_by_role("button", name=f"Save role of {newcomer}")).to_be_disabled()
    page.reload()
    expect(page.get_by_label(f"Role of {newcomer}", exact=True)).to_have_value("analyst")
    console.screenshot("members")

    # The last admin cannot make themself anything else: the API's refusal is shown, the choice undone.
    page.get_by_label(f"Role of {me}", exact=True).select_option("viewer")
    page.get_by_role("button", name=f"Save role of {me}").click()
    expect(page.get_by_role("alert")).to_contain_text("Request id:")
    expect(page.get_by_label(f"Role of {me}", exact=True)).to_have_value("admin")

    page.get_by_role("button", name=f"Remove {newcomer}").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    expect(members).not_to_contain_text(newcomer)
    page.reload()
    expect(page.get_by_label(f"Role of {me}", exact=True)).to_have_value("admin")
    expect(members).to_contain_text(me)


def test_delete_asks_first_and_then_removes_the_file(console: Console, tmp_path: Path) -> None:
    page = console.page
    create_account(page, unique_email("tidy"))
    (tmp_path / "old.csv").write_text("a\n1\n")
    page.get_by_label("Upload files").set_input_files(tmp_path / "old.csv")
    file_row(page, "old.csv", "READY")
    page.get_by_role("button", name="Delete old.csv").click()
    page.get_by_role("dialog").get_by_role("button", name="Keep").click()
    file_row(page, "old.csv", "READY")
    page.get_by_role("button", name="Delete old.csv").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("rowheader", name="old.csv", exact=True)).to_have_count(0)
    page.reload()
    expect(page.get_by_text("No files yet")).to_be_visible()


def test_a_large_file_goes_in_parallel_parts_and_an_upload_can_be_cancelled(
    console: Console, running_platform: RunningPlatform, tmp_path: Path
) -> None:
    page = console.page
    create_account(page, unique_email("big"))
    # 101 MiB: over the presigned POST's limit, so it goes as multipart, in 16 MiB parts.
    big = tmp_path / "events.csv.gz"
    with gzip.open(big, "wb", compresslevel=1) as out:
        out.write(b"n,word\n")
    with big.open("ab") as out:
        out.write(bytes(101 * 1024 * 1024))  # zeros after the gzip stream, which readers skip: a header only
    parts: list[str] = []
    page.on("request", lambda request: parts.append(request.url) if request.method == "PUT" else None)
    page.get_by_label("Upload files").set_input_files(big)
    expect(page.get_by_label("Uploading events.csv.gz")).to_be_visible()
    file_row(page, "events.csv.gz", "READY")
    assert len(parts) == 7
    assert all("partNumber=" in url for url in parts)

    # Slow the network so that the next upload is still going when Cancel is pressed.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    throttle = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 256 * 1024}
    cdp.send("Network.emulateNetworkConditions", throttle)
    (tmp_path / "slow.csv").write_bytes(b"a\n" + b"1\n" * (2 * 1024 * 1024))
    page.get_by_label("Upload files").set_input_files(tmp_path / "slow.csv")
    progress = page.get_by_label("Uploading slow.csv")
    expect(progress).to_be_visible()
    expect(page.locator(".upload-state")).to_contain_text(re.compile(r"[1-9][\d.]* (KiB|MiB) of 4.0 MiB · [1-9]"))
    console.screenshot("files-uploading")
    page.get_by_role("button", name="Cancel upload of slow.csv").click()
    expect(progress).to_have_count(0)
    cdp.send("Network.emulateNetworkConditions", throttle | {"uploadThroughput": -1})
    page.reload()
    file_row(page, "events.csv.gz", "READY")
    expect(page.get_by_role("rowheader", name="slow.csv", exact=True)).to_have_count(0)


def test_an_ended_session_returns_to_sign_in_with_a_message(console: Console) -> None:
    page = console.page
    email = unique_email("expired")
    create_account(page, email)
    # What a revoked or expired refresh token looks like to the console.
    page.evaluate("() => localStorage.setItem('sdp.session', JSON.stringify({email: 'x', refresh_token: 'revoked'}))")
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("The session has ended. Sign in again.")
    sign_in(page, email)


def test_everything_can_be_done_with_the_keyboard(console: Console, running_platform: RunningPlatform) -> None:
    _, account = account_with_table(running_platform, "keys", "keyed.csv", b"k,v\na,1\nb,2\n")
    page = console.page
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type(account.email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Files")).to_be_visible()
    page.get_by_role("link", name="Query").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("textbox", name="SQL")).to_be_focused()
    page.keyboard.type("SELECT sum(v) AS total FROM keyed")
    page.keyboard.press("Control+Enter")
    assert results(page) == [["3"]]
    # Tab leaves the editor (it does not indent), onto Run.
    page.get_by_role("textbox", name="SQL").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Run", exact=True)).to_be_focused()


def test_the_first_load_is_small_and_served_with_the_security_headers(
    browser: Browser, running_platform: RunningPlatform
) -> None:
    context = browser.new_context()
    page = context.new_page()
    loaded: list[Response] = []
    page.on("response", lambda response: loaded.append(response))
    first = page.goto(running_platform.api_url + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.wait_for_load_state("networkidle")
    compressed = sum(len(gzip.compress(response.body(), 6)) for response in loaded)
    context.close()
    assert compressed <= FIRST_LOAD_BUDGET, f"{compressed} bytes compressed"
    assert len(loaded) >= 10  # the page, its style sheet, icon, config and modules

    headers = first.headers if first else {}
    policy = headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert headers["x-content-type-options"] == "nosniff"
    # The API's paths keep their meaning: no console file answers for them, or for anything outside app/.
    for path, status in (("/files", 401), ("/health", 200), ("/../README.md", 404), ("/js/../../README.md", 404)):
        assert requests.get(running_platform.api_url + path, timeout=10).status_code == status, path


def test_files_dropped_on_the_page_are_uploaded(console: Console) -> None:
    page = console.page
    create_account(page, unique_email("drop"))
    dropped = page.evaluate_handle(
        """() => {
            const transfer = new DataTransfer();
            transfer.items.add(new File(["city,people\\\\nOslo,709000\\\\n"], "cities.csv", {type: "text/csv"}));
            return transfer;
        }"""
    )
    page.locator(".drop-zone").dispatch_event("drop", {"dataTransfer": dropped})
    file_row(page, "cities.csv", "READY")


def test_the_editor_completes_tables_and_columns_and_a_running_query_can_be_cancelled(
    console: Console, running_platform: RunningPlatform
) -> None:
    _, account = account_with_table(running_platform, "complete", "inventory.csv", b"sku,quantity\na,1\n")
    page = console.page
    sign_in(page, account.email)
    page.get_by_role("link", name="Query").click()
    write_sql(page, "SELECT quan")
    page.keyboard.press("Control+Space")
    page.get_by_role("option", name="quantity").click()
    page.get_by_role("textbox", name="SQL").press_sequentially(" FROM inve")
    page.keyboard.press("Control+Space")
    page.get_by_role("option", name="inventory").click()
    expect(page.get_by_role("textbox", name="SQL")).to_have_text("SELECT quantity FROM inventory")

    write_sql(page, ENDLESS_QUERY)
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_role("status")).to_have_text(re.compile("QUEUED|RUNNING"))
    expect(page.locator(".timer")).to_have_text(re.compile(r"\d+\.\d s"))
    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("CANCELLED", timeout=60_000)
    expect(page.get_by_role("button", name="Run", exact=True)).to_be_enabled()

    # A bigint past JavaScript's exact integers keeps its digits.
    write_sql(page, "SELECT 9007199254740993 AS big")
    page.keyboard.press("Control+Enter")
    assert results(page) == [["9007199254740993"]]


def test_a_removed_member_is_signed_out_and_another_tabs_sign_out_reaches_every_tab(
    console: Console, running_platform: RunningPlatform
) -> None:
    api = HttpApi(running_platform.api_url)
    admin = sign_up(api, "owner")
    member = add_member(api, admin, "analyst")
    page = console.page
    sign_in(page, member.email)

    # A second tab of the same browser signs out: the first follows instead of going on half signed in.
    other_tab = page.context.new_page()
    other_tab.goto(console.url)
    expect(other_tab.get_by_role("heading", name="Files")).to_be_visible()
    other_tab.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    other_tab.close()

    sign_in(page, member.email)
    removed = api.call("DELETE", f"/tenant/members/{member.user_id}", token=admin.id_token)
    assert removed.status == 204, removed
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Request id:")
