"""Query economics in the console, in headless Chromium against the local platform: the cost line
under the editor, the Usage page and its budget, saved queries beside the editor. Controls are found
by role and accessible name; each screen is photographed at desktop and narrow widths
(out/artifacts/console/)."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import Locator, Page, Request, expect

from tests.api import Account, HttpApi, add_member, ingested_table, sign_up
from tests.browser.conftest import Console
from tests.browser.test_console import results, sign_in, write_sql
from tests.local_platform import RunningPlatform

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

NARROW = {"width": 420, "height": 900}
UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4}
SCANS = re.compile(r"Scans about ([\d.]+) (B|KiB|MiB|GiB|TiB)")


def notes_table() -> bytes:
    """3,000 rows: a short region and a long note of random hex, which compresses to nothing less,
    so that reading the note scans far more than reading the region."""
    lines = ["id,region,note"]
    lines += [f"{n},{('north', 'south', 'east')[n % 3]},{secrets.token_hex(40)}" for n in range(3000)]
    return ("\n".join(lines) + "\n").encode()


def tenant_with_notes(running_platform: RunningPlatform, label: str) -> tuple[HttpApi, Account]:
    api = HttpApi(running_platform.api_url)
    admin = sign_up(api, label)
    ingested_table(api, admin, "notes.csv", notes_table())
    return api, admin


def cost(page: Page) -> Locator:
    return page.get_by_role("region", name="Cost estimate")


def scanned_bytes(text: str) -> float:
    found = SCANS.search(text)
    assert found, text
    return float(found.group(1)) * UNITS[found.group(2)]


def open_query(page: Page) -> None:
    page.get_by_role("link", name="Query", exact=True).click()
    expect(page.get_by_role("heading", name="Query", level=1)).to_be_visible()
    expect(page.get_by_role("textbox", name="SQL")).to_be_focused()


def narrow_screenshot(console: Console, name: str) -> None:
    page = console.page
    wide = page.viewport_size
    page.set_viewport_size(NARROW)
    console.screenshot(name)
    assert wide
    page.set_viewport_size(wide)


def test_the_cost_line_follows_the_sql_and_reads_fewer_bytes_for_one_column_than_for_all(
    console: Console, running_platform: RunningPlatform
) -> None:
    _, admin = tenant_with_notes(running_platform, "cost")
    page = console.page
    sign_in(page, admin.email)
    dry_runs: list[str] = []

    def note(request: Request) -> None:
        if request.method == "POST" and '"dry_run":true' in (request.post_data or ""):
            dry_runs.append(request.post_data or "")

    page.on("request", note)
    open_query(page)
    expect(cost(page)).to_be_hidden()

    write_sql(page, "SELECT * FROM notes")
    expect(cost(page)).to_contain_text("reads notes(id, note, region)")
    everything = scanned_bytes(cost(page).inner_text())
    expect(cost(page)).to_contain_text(re.compile(r"billed 10 MiB · ≈ \$0\.0000\d+"))
    # Typed a key at a time, yet asked about a few times at most: after each pause, one at a time.
    assert 1 <= len(dry_runs) <= 4, dry_runs
    page.keyboard.press("Escape")  # the completion list closed, for the photograph
    console.screenshot("query-cost")

    write_sql(page, "SELECT region FROM notes")
    expect(cost(page)).to_contain_text("reads notes(region)")
    one_column = scanned_bytes(cost(page).inner_text())
    assert one_column * 4 < everything, (one_column, everything)
    # Nothing ran: the history is as empty as before.
    expect(page.get_by_text("No queries yet.")).to_be_visible()

    # Refused SQL is a quiet note in the line, not an alert; an empty editor shows nothing.
    write_sql(page, "DROP TABLE notes")
    expect(cost(page)).not_to_contain_text("Scans about")
    expect(cost(page)).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
    write_sql(page, "")
    expect(cost(page)).to_be_hidden()

    write_sql(page, "SELECT region, count(*) AS n FROM notes GROUP BY region ORDER BY region")
    expect(cost(page)).to_contain_text("reads notes(region)")
    # The line takes no focus: Tab still goes from the editor to Run.
    page.get_by_role("textbox", name="SQL").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Run", exact=True)).to_be_focused()
    narrow_screenshot(console, "query-cost-narrow")


def test_usage_shows_the_tenants_figures_and_an_admins_budget_refuses_a_query_over_it(
    console: Console, running_platform: RunningPlatform
) -> None:
    _, admin = tenant_with_notes(running_platform, "budget")
    page = console.page
    sign_in(page, admin.email)
    open_query(page)
    write_sql(page, "SELECT count(*) AS n FROM notes")
    page.get_by_role("button", name="Run", exact=True).click()
    assert results(page) == [["3000"]]

    page.get_by_role("link", name="Usage", exact=True).click()
    expect(page.get_by_role("heading", name="Usage", level=1)).to_be_visible()
    storage = page.get_by_role("meter", name="Storage used")
    expect(storage).to_be_visible()
    expect(page.get_by_text(re.compile(r"^\d[\d.]* KiB of 50 GiB \(<1%\)$"))).to_be_visible()
    expect(page.get_by_role("meter", name="Files stored")).to_have_attribute("value", "1")
    expect(page.get_by_text("1 of 10,000 files (<1%)")).to_be_visible()
    figures = page.locator("dl.figures")
    expect(figures).to_contain_text("Queries this month")
    expect(figures.locator("dd").nth(1)).to_have_text("None")
    expect(figures.locator("dd").nth(3)).to_have_text("1")
    expect(figures.locator("dd").nth(4)).to_have_text(re.compile(r"^1 \w{3} \d{4} \(UTC\)$"))
    expect(page.get_by_text(re.compile("scanned; no monthly budget"))).to_be_visible()
    console.screenshot("usage")

    # Bad input is refused in the page; a budget of 0.05 MiB is set.
    budget = page.get_by_role("textbox", name="Budget")
    budget.fill("-2")
    page.get_by_role("button", name="Set budget").click()
    expect(page.get_by_role("alert")).to_have_text("A budget cannot be negative.")
    expect(budget).to_be_focused()
    budget.fill("0.05")
    page.get_by_role("combobox", name="Unit").select_option("MiB")
    page.get_by_role("button", name="Set budget").click()
    expect(page.get_by_role("meter", name="Scanned this month")).to_be_visible()
    expect(figures.locator("dd").nth(1)).to_have_text("51 KiB")
    expect(page.get_by_role("button", name="Remove budget")).to_be_enabled()
    console.screenshot("usage-budget")
    narrow_screenshot(console, "usage-narrow")

    # The cost line warns before running; the query itself is refused with a readable message.
    open_query(page)
    write_sql(page, "SELECT * FROM notes")
    expect(cost(page)).to_contain_text(
        re.compile(r"Over this month's remaining budget \([\d.]+ KiB left, resets 1 \w{3}\)")
    )
    page.get_by_role("button", name="Run", exact=True).click()
    refusal = page.locator(".refusal")
    expect(refusal).to_contain_text(
        re.compile(r"KiB of this month's scanning budget is left; it resets on 1 \w{3} \d{4}\.")
    )
    expect(refusal).to_contain_text("Not run: this query would scan more than is left of this month's scan budget.")
    expect(refusal).to_contain_text("Request id:")
    expect(page.get_by_role("table", name="Results")).to_have_count(0)
    console.screenshot("query-over-budget")

    # Removed, the same query runs.
    page.get_by_role("link", name="Usage", exact=True).click()
    page.get_by_role("button", name="Remove budget").click()
    expect(figures.locator("dd").nth(1)).to_have_text("None")
    open_query(page)
    expect(cost(page)).not_to_contain_text("Over this month's remaining budget")
    page.get_by_role("button", name="Run", exact=True).click()
    assert len(results(page)) == 100


def test_a_saved_query_is_listed_loaded_run_and_reused_and_a_viewer_cannot_save(
    console: Console, running_platform: RunningPlatform
) -> None:
    api, admin = tenant_with_notes(running_platform, "saver")
    viewer = add_member(api, admin, "viewer")
    page = console.page
    sign_in(page, admin.email)
    open_query(page)
    saved = page.get_by_role("complementary", name="Saved queries")
    expect(saved.get_by_text("No saved queries yet.")).to_be_visible()

    # The name is checked in the page first; then the editor's SQL is saved under it.
    form = page.get_by_role("form", name="Save query")
    form.get_by_role("button", name="Save query").click()
    expect(form.get_by_role("alert")).to_have_text("The editor is empty: write the SQL to save first.")
    sql = "SELECT region, count(*) AS n FROM notes GROUP BY region ORDER BY region"
    write_sql(page, sql)
    form.get_by_role("textbox", name="Name").fill("rows per region")
    form.get_by_role("textbox", name="Description (optional)").fill("How the notes spread")
    form.get_by_role("button", name="Save query").click()
    expect(form.get_by_text('Saved as "rows per region".')).to_be_visible()
    listed = saved.get_by_role("list", name="Saved queries")
    expect(listed.get_by_role("button", name="rows per region", exact=True)).to_be_visible()
    expect(listed).to_contain_text("How the notes spread")

    # Loaded into an emptied editor, then run: its rows show as a query's do, and in the history.
    write_sql(page, "")
    listed.get_by_role("button", name="rows per region", exact=True).click()
    expect(page.get_by_role("textbox", name="SQL")).to_have_text(sql)
    write_sql(page, "SELECT 1")
    listed.get_by_role("button", name="Run rows per region").click()
    assert results(page) == [["east", "1000"], ["north", "1000"], ["south", "1000"]]
    expect(page.get_by_role("textbox", name="SQL")).to_have_text(sql)
    expect(page.get_by_role("status")).to_have_text("SUCCEEDED")
    history = page.get_by_role("table", name="Query history")
    expect(history.get_by_role("row").filter(has_text="GROUP BY region")).to_have_count(1)
    console.screenshot("query-saved")

    # The same query again over the same table: the earlier result, said so.
    listed.get_by_role("button", name="Run rows per region").click()
    expect(page.get_by_text("reused earlier result")).to_be_visible(timeout=60_000)
    assert results(page) == [["east", "1000"], ["north", "1000"], ["south", "1000"]]
    expect(page.get_by_text(re.compile(r"· 0 B scanned"))).to_be_visible()
    console.screenshot("query-reused")
    narrow_screenshot(console, "query-saved-narrow")

    # A viewer sees the list and runs it, but has no save control, and is told why.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, viewer.email)
    open_query(page)
    expect(page.get_by_role("form", name="Save query")).to_have_count(0)
    expect(page.get_by_role("button", name="Save query")).to_have_count(0)
    expect(saved).to_contain_text("saving one takes the analyst or admin role")
    expect(saved.get_by_role("button", name="Delete rows per region")).to_have_count(0)
    saved.get_by_role("button", name="Run rows per region").click()
    assert results(page) == [["east", "1000"], ["north", "1000"], ["south", "1000"]]

    # The admin deletes it, after a question.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, admin.email)
    open_query(page)
    saved.get_by_role("button", name="Delete rows per region").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(saved.get_by_text("No saved queries yet.")).to_be_visible()
