// Query economics in the console: the cost line's pause and supersede rule and its words, the
// formatting of sizes and cost, the Usage view, the saved queries beside the editor, the API calls.

import assert from "node:assert/strict";
import { test } from "node:test";

import { Api } from "../../app/js/api.js";
import { ApiError, errorFromResponse } from "../../app/js/errors.js";
import { describeEstimate, estimateProblem, estimator, tablesRead } from "../../app/js/estimate.js";
import { formatBytes, formatDay, formatShare, formatUsd } from "../../app/js/format.js";
import { FakeElement, MemoryStorage, apiError, byId, byLabel, byText, installFakeDom, jsonResponse, scriptedFetch, settle } from "./fakes.mjs";

installFakeDom();
const { budgetBytes, monthName, usageFigures, usageView } = await import("../../app/js/views/usage.js");
const { canDelete, canSave, savedQueriesPanel, savedQueryProblem } = await import("../../app/js/views/saved.js");
const { budgetLeft } = await import("../../app/js/views/query.js");

/** A clock whose timers run only when the test moves it on. */
function fakeClock() {
  let now = 0;
  let next = 1;
  const timers = new Map();
  return {
    setTimeout(action, delay) {
      const id = next++;
      timers.set(id, { at: now + delay, action });
      return id;
    },
    clearTimeout(id) {
      timers.delete(id);
    },
    advance(ms) {
      now += ms;
      for (const [id, timer] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
        if (timer.at <= now && timers.has(id)) {
          timers.delete(id);
          timer.action();
        }
      }
    },
    get pending() {
      return timers.size;
    },
  };
}

/** An `ask` whose answers the test gives, one per request, in any order. */
function manualAsk() {
  const asked = [];
  const ask = (sql) => new Promise((resolve, reject) => asked.push({ sql, resolve, reject }));
  return { asked, ask };
}

test("the estimate is asked once typing pauses 400 ms, for the last text only", async () => {
  const clock = fakeClock();
  const { asked, ask } = manualAsk();
  const shown = [];
  const changed = estimator(ask, (outcome) => shown.push(outcome), { clock });
  changed("S");
  clock.advance(200);
  changed("SE");
  clock.advance(399);
  assert.equal(asked.length, 0);
  changed("SELECT 1");
  clock.advance(399);
  assert.equal(asked.length, 0);
  clock.advance(1);
  assert.deepEqual(asked.map((each) => each.sql), ["SELECT 1"]);
  asked[0].resolve({ dry_run: true, bytes_to_scan: 0 });
  await settle();
  assert.deepEqual(shown, [{ sql: "SELECT 1", answer: { dry_run: true, bytes_to_scan: 0 } }]);
});

test("never two requests in flight: an edit made meanwhile goes when the answer is in, and the older answer is dropped", async () => {
  const clock = fakeClock();
  const { asked, ask } = manualAsk();
  const shown = [];
  const pending = [];
  const changed = estimator(ask, (outcome) => shown.push(outcome), { clock, pending: (sql) => pending.push(sql) });
  changed("SELECT a FROM t");
  clock.advance(400);
  assert.equal(asked.length, 1);
  changed("SELECT b FROM t");
  clock.advance(400);
  changed("SELECT c FROM t");
  clock.advance(400);
  assert.equal(asked.length, 1, "a second request waits for the first answer");
  asked[0].resolve({ dry_run: true, which: "a" });
  await settle();
  assert.deepEqual(shown, [], "the answer to an older text is not shown");
  assert.deepEqual(asked.map((each) => each.sql), ["SELECT a FROM t", "SELECT c FROM t"], "only the latest text is sent after it");
  asked[1].resolve({ dry_run: true, which: "c" });
  await settle();
  assert.deepEqual(shown, [{ sql: "SELECT c FROM t", answer: { dry_run: true, which: "c" } }]);
  assert.deepEqual(pending, ["SELECT a FROM t", "SELECT b FROM t", "SELECT c FROM t"]);
});

test("an answer arriving after a newer edit is not shown; the newer edit's answer is", async () => {
  const clock = fakeClock();
  const { asked, ask } = manualAsk();
  const shown = [];
  const changed = estimator(ask, (outcome) => shown.push(outcome), { clock });
  changed("SELECT 1");
  clock.advance(400);
  changed("SELECT 2"); // typing again, not yet paused long enough
  asked[0].resolve({ dry_run: true, n: 1 });
  await settle();
  assert.deepEqual(shown, []);
  clock.advance(400);
  assert.deepEqual(asked.map((each) => each.sql), ["SELECT 1", "SELECT 2"]);
  asked[1].reject(new ApiError({ status: 400, code: "invalid_sql", message: "Bad." }));
  await settle();
  assert.equal(shown.length, 1);
  assert.equal(shown[0].sql, "SELECT 2");
  assert.equal(shown[0].error.code, "invalid_sql");
});

test("an empty editor shows nothing at once, and drops what was due; stop() drops everything", async () => {
  const clock = fakeClock();
  const { asked, ask } = manualAsk();
  const shown = [];
  const changed = estimator(ask, (outcome) => shown.push(outcome), { clock });
  changed("SELECT 1");
  changed("   \n");
  assert.deepEqual(shown, [null]);
  clock.advance(1000);
  assert.equal(asked.length, 0);
  changed("SELECT 3");
  clock.advance(400);
  changed.stop();
  asked[0].resolve({ dry_run: true });
  await settle();
  assert.deepEqual(shown, [null]);
  changed("SELECT 4");
  changed.stop();
  clock.advance(1000);
  assert.equal(asked.length, 1);
  assert.equal(clock.pending, 0);
});

test("an ask that throws at once is shown as that edit's error", async () => {
  const clock = fakeClock();
  const shown = [];
  const changed = estimator(() => {
    throw new Error("offline");
  }, (outcome) => shown.push(outcome), { clock });
  changed("SELECT 1");
  clock.advance(400);
  await settle();
  assert.equal(shown[0].error.message, "offline");
});

test("sizes, cost, days and shares read as a person writes them", () => {
  assert.equal(formatBytes(1_258_291), "1.2 MiB");
  assert.equal(formatBytes(10_485_760), "10 MiB");
  assert.equal(formatUsd(0.0000476837), "$0.000048");
  assert.equal(formatUsd(0.00005), "$0.00005");
  assert.equal(formatUsd(0.0048), "$0.0048");
  assert.equal(formatUsd(0.25), "$0.25");
  assert.equal(formatUsd(1234.5), "$1,234.50");
  assert.equal(formatUsd(0), "$0");
  assert.equal(formatUsd(null), "");
  assert.equal(formatDay("2027-01-01T00:00:00Z"), "1 Jan");
  assert.equal(formatDay("2027-01-01T00:00:00Z", { year: true }), "1 Jan 2027");
  assert.equal(formatDay("2026-12-31T23:59:59Z"), "31 Dec"); // the day in UTC, whatever the reader's zone
  assert.equal(formatDay("soon"), "soon");
  assert.equal(formatShare(0, 100), "0%");
  assert.equal(formatShare(1, 1000), "<1%");
  assert.equal(formatShare(37.9, 100), "37%");
  assert.equal(formatShare(150, 100), "150%");
  assert.equal(formatShare(1, 0), "");
});

const ESTIMATE = {
  dry_run: true,
  bytes_to_scan: 1_258_291,
  billed_bytes: 10_485_760,
  estimated_cost_usd: 0.0000476837,
  tables: ["regions", "sales"],
  columns: { sales: ["amount", "region"], regions: [] },
  within_budget: true,
  remaining_scan_bytes: null,
  resets_at: "2027-01-01T00:00:00Z",
};

test("a dry run's answer reads as one line; over the budget, a warning with what is left and when it resets", () => {
  assert.deepEqual(tablesRead(ESTIMATE.tables, ESTIMATE.columns), ["regions", "sales(amount, region)"]);
  assert.deepEqual(describeEstimate(ESTIMATE), {
    line: "Scans about 1.2 MiB · billed 10 MiB · ≈ $0.000048 · reads regions, sales(amount, region)",
    warning: null,
  });
  const over = describeEstimate({ ...ESTIMATE, within_budget: false, remaining_scan_bytes: 3 * 1024 * 1024 });
  assert.equal(over.warning, "Over this month's remaining budget (3.0 MiB left, resets 1 Jan)");
  assert.equal(describeEstimate({ ...ESTIMATE, tables: [], columns: {} }).line.endsWith("· reads no table"), true);
  assert.equal(estimateProblem(new ApiError({ code: "forbidden_sql", message: "Only SELECT." })), "Only SELECT.");
  assert.equal(estimateProblem(new ApiError({ code: "network_error", message: "Unreachable." })), "No estimate: Unreachable.");
});

test("a budget_exceeded refusal keeps what is left and when it resets, and says so", async () => {
  const error = await errorFromResponse(
    jsonResponse(429, {
      error: { code: "budget_exceeded", message: "Over budget.", request_id: "r-3", remaining_scan_bytes: 5_242_880, resets_at: "2027-01-01T00:00:00Z" },
    }),
  );
  assert.equal(error.code, "budget_exceeded");
  assert.equal(error.requestId, "r-3");
  assert.deepEqual(error.details, { remaining_scan_bytes: 5_242_880, resets_at: "2027-01-01T00:00:00Z" });
  assert.equal(budgetLeft(error.details), "5.0 MiB of this month's scanning budget is left; it resets on 1 Jan 2027.");
  assert.equal(budgetLeft({ resets_at: "2027-01-01T00:00:00Z" }), "It resets on 1 Jan 2027.");
  assert.equal(budgetLeft({}), null);
});

test("the API client sends the economics calls as the contract has them", async () => {
  const storage = new MemoryStorage();
  storage.setItem("sdp.session", JSON.stringify({ email: "a@example.com", refresh_token: "r" }));
  const { fetch, calls } = scriptedFetch(({ path, method }) => {
    if (path === "/auth/refresh") return jsonResponse(200, { id_token: "id", expires_in: 3600 });
    if (method === "DELETE") return new Response(null, { status: 204 });
    return jsonResponse(200, { ok: true });
  });
  const api = new Api({ baseUrl: "http://platform.test", storage, fetch, now: () => 0 });
  await api.estimateQuery("SELECT 1");
  await api.usage();
  await api.setScanBudget(null);
  await api.setScanBudget(1024);
  await api.savedQueries("tok");
  await api.saveQuery({ name: "n", sql: "SELECT 1", description: null });
  await api.saveQuery({ name: "n", sql: "SELECT 1", description: "d" });
  assert.equal(await api.deleteSavedQuery("S/1"), null);
  await api.runSavedQuery("S1");
  const sent = calls.slice(1).map((call) => [call.method, call.path, call.init.body ? JSON.parse(call.init.body) : null]);
  assert.deepEqual(sent, [
    ["POST", "/queries", { sql: "SELECT 1", dry_run: true }],
    ["GET", "/tenant/usage", null],
    ["PATCH", "/tenant", { monthly_scan_budget_bytes: null }],
    ["PATCH", "/tenant", { monthly_scan_budget_bytes: 1024 }],
    ["GET", "/saved-queries", null],
    ["POST", "/saved-queries", { name: "n", sql: "SELECT 1" }],
    ["POST", "/saved-queries", { name: "n", sql: "SELECT 1", description: "d" }],
    ["DELETE", "/saved-queries/S%2F1", null],
    ["POST", "/saved-queries/S1/run", null],
  ]);
  assert.equal(calls[5].query.get("next_token"), "tok");
  assert.equal(calls[5].query.get("limit"), "20");
});

test("a budget typed in a unit becomes whole bytes; bad input is said in words", () => {
  assert.deepEqual(budgetBytes("50", "GiB"), { bytes: 50 * 1024 ** 3 });
  assert.deepEqual(budgetBytes(" 2.5 ", "MiB"), { bytes: 2_621_440 });
  assert.deepEqual(budgetBytes("0", "TiB"), { bytes: 0 });
  assert.match(budgetBytes("", "GiB").problem, /Write a budget/);
  assert.equal(budgetBytes("-5", "GiB").problem, "A budget cannot be negative.");
  assert.match(budgetBytes("lots", "GiB").problem, /"lots" is not a number/);
  assert.match(budgetBytes("1e3", "GiB").problem, /not a number/);
  assert.equal(budgetBytes("99999999", "TiB").problem, "That budget is too large.");
  assert.equal(budgetBytes("5", "PB").problem, "Choose a unit.");
});

const USAGE = {
  month: "2026-12",
  resets_at: "2027-01-01T00:00:00Z",
  bytes_used: 1536,
  quota_bytes: 10 * 1024 ** 3,
  file_count: 3,
  quota_files: 1000,
  bytes_scanned: 20 * 1024 ** 2,
  monthly_scan_budget_bytes: 100 * 1024 ** 2,
  remaining_scan_bytes: 80 * 1024 ** 2,
  query_count: 1234,
};

test("usage reads as figures in words", () => {
  assert.equal(monthName("2026-12"), "December 2026");
  assert.equal(monthName("2027-01"), "January 2027");
  assert.equal(monthName("2027-13"), "2027-13");
  assert.deepEqual(usageFigures(USAGE), {
    storage: "1.5 KiB of 10 GiB (<1%)",
    files: "3 of 1,000 files (<1%)",
    scanned: "20 MiB of 100 MiB (20%)",
    remaining: "80 MiB",
    queries: "1,234",
    resets: "1 Jan 2027",
  });
  const unlimited = usageFigures({ ...USAGE, monthly_scan_budget_bytes: null, remaining_scan_bytes: null });
  assert.equal(unlimited.scanned, "20 MiB scanned; no monthly budget");
  assert.equal(unlimited.remaining, "No limit");
});

function view(make, api, extra = {}) {
  const main = new FakeElement("main");
  const notes = [];
  const leave = make({ api, main, notify: (error) => notes.push(error), clearNotice: () => {}, navigate: () => {}, ...extra });
  return { main, notes, leave };
}

const meterNamed = (main, name) => {
  const label = main.find(byText("span", name));
  return main.find((element) => element.tagName === "METER" && element.getAttribute("aria-labelledby") === label.getAttribute("id"), `meter ${name}`);
};

test("Usage shows storage and files against their quotas and the month's scanning against the budget", async () => {
  const api = { usage: async () => USAGE };
  const { main, leave } = view(usageView, api, { me: { role: "viewer", user_id: "u2" } });
  await settle();
  const storage = meterNamed(main, "Storage used");
  assert.equal(storage.value, 1536);
  assert.equal(storage.getAttribute("max"), String(10 * 1024 ** 3));
  assert.equal(main.find(byId(storage.getAttribute("aria-describedby"))).textContent, "1.5 KiB of 10 GiB (<1%)");
  assert.equal(meterNamed(main, "Files stored").value, 3);
  assert.equal(meterNamed(main, "Scanned this month").value, 20 * 1024 ** 2);
  const figures = main.find((element) => element.tagName === "DL");
  assert.deepEqual(
    figures.children.map((element) => element.textContent),
    ["Bytes scanned", "20 MiB", "Monthly budget", "100 MiB", "Remaining", "80 MiB", "Queries this month", "1,234", "Resets", "1 Jan 2027 (UTC)"],
  );
  assert.ok(main.find(byText("h2", "Queries in December 2026")));
  // A viewer sees no budget form.
  assert.deepEqual(main.findAll((element) => element.tagName === "FORM"), []);
  assert.ok(main.find(byText("p", "An admin sets the monthly scanning budget.")));
  leave();
});

test("an admin sets the budget: bad input is refused in the page, the API's refusal is shown readably, a good one is sent", async () => {
  const sent = [];
  let usage = { ...USAGE, monthly_scan_budget_bytes: null, remaining_scan_bytes: null };
  const api = {
    usage: async () => usage,
    setScanBudget: async (bytes) => {
      sent.push(bytes);
      if (bytes === 0) throw new ApiError({ status: 403, code: "forbidden", message: "Only an admin may do that.", requestId: "r-8" });
      usage = { ...usage, monthly_scan_budget_bytes: bytes, remaining_scan_bytes: bytes };
      return { tenant_id: "t", name: "T", monthly_scan_budget_bytes: bytes };
    },
  };
  const { main, leave } = view(usageView, api, { me: { role: "admin", user_id: "u1" } });
  await settle();
  assert.ok(main.find(byText("p", "20 MiB scanned; no monthly budget")));
  const form = () => main.find((element) => element.tagName === "FORM");
  const amount = () => main.find(byId("budget-amount"));
  const problem = () => main.find(byId("budget-problem"));
  assert.equal(main.find(byText("button", "Remove budget")).disabled, true); // there is none to remove
  const unit = main.find(byId("budget-unit"));
  assert.equal(unit.children.find((option) => option.selected).value, "GiB");
  unit.value = "GiB"; // what a browser's select says with that option selected

  amount().value = "-3";
  form().dispatch("submit");
  assert.equal(problem().shown, true);
  assert.equal(problem().getAttribute("role"), "alert");
  assert.equal(problem().textContent, "A budget cannot be negative.");
  assert.equal(amount().getAttribute("aria-invalid"), "true");
  assert.equal(document.activeElement, amount());
  assert.deepEqual(sent, []);

  amount().value = "0";
  form().dispatch("submit");
  await settle();
  assert.deepEqual(sent, [0]);
  assert.equal(problem().textContent, "The budget was not changed: Only an admin may do that. Request id: r-8");

  amount().value = "5";
  main.find(byId("budget-unit")).value = "MiB";
  form().dispatch("submit");
  await settle();
  assert.deepEqual(sent, [0, 5 * 1024 ** 2]);
  assert.ok(main.find(byText("p", "Now 5.0 MiB a month. A query whose estimate exceeds what is left this month is refused.")));
  assert.equal(meterNamed(main, "Scanned this month").getAttribute("max"), String(5 * 1024 ** 2));
  assert.equal(meterNamed(main, "Scanned this month").value, 5 * 1024 ** 2); // 20 MiB scanned: the meter full, the words say more
  assert.equal(main.find(byId(meterNamed(main, "Scanned this month").getAttribute("aria-describedby"))).textContent, "20 MiB of 5.0 MiB (400%)");

  main.find(byText("button", "Remove budget")).click();
  await settle();
  assert.deepEqual(sent, [0, 5 * 1024 ** 2, null]);
  leave();
});

test("usage that cannot be read says so on the page and in the alert", async () => {
  const api = { usage: async () => Promise.reject(new ApiError({ status: 503, code: "service_unavailable", message: "Busy." })) };
  const { main, notes } = view(usageView, api, { me: { role: "admin" } });
  await settle();
  assert.ok(main.find(byText("p", "Usage could not be read: Busy.")));
  assert.equal(notes.length, 1);
});

const MINE = { saved_query_id: "S2", name: "totals", sql: "SELECT sum(amount) FROM sales", description: "All of it", author_id: "u1", created_at: "2026-12-02T10:00:00Z", updated_at: "2026-12-02T10:00:00Z" };
const THEIRS = { saved_query_id: "S1", name: "regions", sql: "SELECT region FROM sales", description: null, author_id: "u9", created_at: "2026-12-01T10:00:00Z", updated_at: "2026-12-01T10:00:00Z" };
const OLDEST = { ...THEIRS, saved_query_id: "S0", name: "oldest" };

function savedApi(overrides = {}) {
  const asked = [];
  return {
    asked,
    savedQueries: async (token) => (asked.push(["list", token ?? null]), token ? { saved_queries: [OLDEST], next_token: null } : { saved_queries: [MINE, THEIRS], next_token: "p2" }),
    saveQuery: async (query) => (asked.push(["save", query]), { ...query, saved_query_id: "S3", author_id: "u1" }),
    deleteSavedQuery: async (id) => (asked.push(["delete", id]), null),
    ...overrides,
  };
}

function panel(api, me, extra = {}) {
  const notes = [];
  const loaded = [];
  const ran = [];
  let text = "SELECT 1";
  const made = savedQueriesPanel({
    api,
    me,
    notify: (error) => notes.push(error),
    clearNotice: () => {},
    sql: () => text,
    load: (query) => loaded.push(query.saved_query_id),
    run: (query) => ran.push(query.saved_query_id),
    busy: () => false,
    ...extra,
  });
  const root = new FakeElement("div");
  root.append(made.element);
  return { root, made, notes, loaded, ran, setText: (value) => (text = value) };
}

const names = (root) => root.find(byLabel("ul", "Saved queries")).children.map((item) => item.children[0].textContent);

test("saved queries list a page at a time; a name loads its SQL, Run runs it", async () => {
  const api = savedApi();
  const { root, loaded, ran } = panel(api, { role: "analyst", user_id: "u1" });
  await settle();
  assert.deepEqual(names(root), ["totals", "regions"]);
  assert.ok(root.find(byText("p", "All of it")));
  root.find(byText("button", "totals")).click();
  root.find(byLabel("button", "Run regions")).click();
  assert.deepEqual(loaded, ["S2"]);
  assert.deepEqual(ran, ["S1"]);
  const more = root.find(byText("button", "Show more saved queries"));
  assert.equal(more.shown, true);
  more.click();
  await settle();
  assert.deepEqual(names(root), ["totals", "regions", "oldest"]);
  assert.equal(more.shown, false);
  assert.deepEqual(api.asked, [["list", null], ["list", "p2"]]);
  // Delete only on one's own (an analyst); an admin may delete any.
  assert.ok(root.find(byLabel("button", "Delete totals")));
  assert.deepEqual(root.findAll(byLabel("button", "Delete regions")), []);
  assert.equal(canDelete({ role: "admin", user_id: "u7" }, THEIRS), true);
  assert.equal(canDelete({ role: "viewer", user_id: "u9" }, THEIRS), true); // its author, whatever the role now
  assert.equal(canDelete({ role: "analyst", user_id: "u1" }, THEIRS), false);
});

test("a viewer sees the list and Run, no save form, and why", async () => {
  const { root } = panel(savedApi(), { role: "viewer", user_id: "u5" });
  await settle();
  assert.deepEqual(names(root), ["totals", "regions"]);
  assert.ok(root.find(byLabel("button", "Run totals")));
  assert.deepEqual(root.findAll((element) => element.tagName === "FORM"), []);
  assert.deepEqual(root.findAll(byText("button", "Delete")), []);
  assert.ok(root.find(byText("p", "Viewers load and run saved queries; saving one takes the analyst or admin role.")));
  assert.equal(canSave({ role: "viewer" }), false);
  assert.equal(canSave({ role: "analyst" }), true);
});

test("saving checks the name and SQL first, sends the editor's SQL, shows the API's refusal and lists the new one", async () => {
  let listed = [MINE];
  const api = savedApi({
    savedQueries: async () => ({ saved_queries: listed, next_token: null }),
    saveQuery: async (query) => {
      if (query.sql.startsWith("DROP")) throw new ApiError({ status: 400, code: "forbidden_sql", message: "Only SELECT queries may run.", requestId: "r-4" });
      const made = { ...query, saved_query_id: "S3", author_id: "u1", created_at: "2026-12-04T10:00:00Z", updated_at: "2026-12-04T10:00:00Z" };
      listed = [made, ...listed];
      return made;
    },
  });
  const { root, setText } = panel(api, { role: "admin", user_id: "u1" });
  await settle();
  const form = root.find(byLabel("form", "Save query"));
  const name = root.find(byId("saved-name"));
  const problem = root.find(byId("save-problem"));

  name.value = "   ";
  form.dispatch("submit");
  assert.equal(problem.textContent, "Give the query a name.");
  assert.equal(problem.getAttribute("role"), "alert");

  name.value = "drop it";
  setText("DROP TABLE sales");
  form.dispatch("submit");
  await settle();
  assert.equal(problem.textContent, "Not saved: Only SELECT queries may run. Request id: r-4");

  setText("SELECT count(*) FROM sales");
  name.value = " count ";
  root.find(byId("saved-description")).value = "";
  form.dispatch("submit");
  await settle();
  assert.equal(problem.shown, false);
  assert.equal(name.value, "");
  assert.ok(root.find(byText("p", 'Saved as "count".')));
  assert.deepEqual(names(root), ["count", "totals"]);
});

test("the save rules: an empty editor, a blank or long name, a long description", () => {
  assert.equal(savedQueryProblem({ name: "x", sql: " " }), "The editor is empty: write the SQL to save first.");
  assert.equal(savedQueryProblem({ name: "", sql: "SELECT 1" }), "Give the query a name.");
  assert.equal(savedQueryProblem({ name: "n".repeat(121), sql: "SELECT 1" }), "A name is at most 120 characters; this one has 121.");
  assert.equal(savedQueryProblem({ name: "n".repeat(120), sql: "SELECT 1", description: "d".repeat(2000) }), null);
  assert.match(savedQueryProblem({ name: "n", sql: "SELECT 1", description: "d".repeat(2001) }), /at most 2000/);
});

test("delete asks first: Keep keeps it, Delete removes it", async () => {
  const body = new FakeElement("body");
  globalThis.document.body = body;
  FakeElement.prototype.showModal = function showModal() {
    this.open = true;
  };
  const answer = async (choice) => {
    await settle();
    const dialog = body.find((element) => element.tagName === "DIALOG");
    dialog.returnValue = choice;
    dialog.dispatch("close");
    await settle();
  };
  let listed = [MINE, THEIRS];
  const api = savedApi({
    savedQueries: async () => ({ saved_queries: listed, next_token: null }),
    deleteSavedQuery: async (id) => {
      api.asked.push(["delete", id]);
      listed = listed.filter((each) => each.saved_query_id !== id);
      return null;
    },
  });
  const { root } = panel(api, { role: "admin", user_id: "u1" });
  await settle();
  root.find(byLabel("button", "Delete regions")).click();
  await answer("cancel");
  assert.deepEqual(names(root), ["totals", "regions"]);
  root.find(byLabel("button", "Delete regions")).click();
  await answer("confirm");
  assert.deepEqual(names(root), ["totals"]);
  assert.deepEqual(api.asked.filter(([what]) => what === "delete"), [["delete", "S1"]]);
});

test("a refused delete is shown as the API said it", async () => {
  const body = new FakeElement("body");
  globalThis.document.body = body;
  FakeElement.prototype.showModal = function showModal() {};
  const api = savedApi({ deleteSavedQuery: async () => Promise.reject(new ApiError({ status: 403, code: "forbidden", message: "Not yours." })) });
  const { root, notes } = panel(api, { role: "admin", user_id: "u1" });
  await settle();
  root.find(byLabel("button", "Delete totals")).click();
  await settle();
  const dialog = body.find((element) => element.tagName === "DIALOG");
  dialog.returnValue = "confirm";
  dialog.dispatch("close");
  await settle();
  assert.deepEqual(notes.map((error) => error.code), ["forbidden"]);
  assert.deepEqual(names(root), ["totals", "regions"]);
});

test("the API's error shape without extra fields keeps empty details", async () => {
  const error = await errorFromResponse(apiError(403, "forbidden"));
  assert.deepEqual(error.details, {});
});
