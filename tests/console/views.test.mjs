// The table page, the Tables and Files searches and "Add to table", rendered on a fake DOM with a
// fake API.

import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError } from "../../app/js/errors.js";
import { FakeElement, byId, byLabel, byText, installFakeDom, rowsOf, settle } from "./fakes.mjs";

installFakeDom();
const { tableView } = await import("../../app/js/views/table.js");
const { tablesView } = await import("../../app/js/views/tables.js");
const { cancelUploads, filesView, driftNote, outcome } = await import("../../app/js/views/files.js");

const JAN = { file_id: "F1", name: "jan.csv", row_count: 2, added_at: "2026-05-01T10:00:00Z", added_columns: ["region", "amount"], missing_columns: [] };
const FEB = { file_id: "F2", name: "feb.csv", row_count: 3, added_at: "2026-05-02T10:00:00Z", added_columns: ["channel"], missing_columns: [] };
const MAR = { file_id: "F3", name: "mar.csv", row_count: 1, added_at: "2026-05-03T10:00:00Z", added_columns: [], missing_columns: ["channel"] };
const COLUMNS = [
  { name: "region", type: "varchar" },
  { name: "amount", type: "bigint" },
  { name: "channel", type: "varchar" },
];
const HISTORY = [
  { column: "region", type: "varchar", file_id: "F1", added_at: "2026-05-01T10:00:00Z" },
  { column: "amount", type: "bigint", file_id: "F1", added_at: "2026-05-01T10:00:00Z" },
  { column: "channel", type: "varchar", file_id: "F2", added_at: "2026-05-02T10:00:00Z" },
];
const SALES = { table: "sales", file_id: "F3", columns: COLUMNS, row_count: 6, file_count: 3 };

function view(make, api, extra = {}) {
  const main = new FakeElement("main");
  const notes = [];
  const leave = make({ api, main, notify: (error) => notes.push(error), navigate: () => {}, ...extra });
  return { main, notes, leave };
}

test("a table's page shows its columns, counts, files with what each added or lacked, and its schema history", async () => {
  const asked = [];
  const api = {
    table: async (name, token) => {
      asked.push([name, token ?? null]);
      return token
        ? { ...SALES, files: [MAR], next_token: null, schema_history: HISTORY }
        : { ...SALES, files: [JAN, FEB], next_token: "t2", schema_history: HISTORY };
    },
  };
  const { main } = view(tableView, api, { name: "sales" });
  await settle();

  assert.equal(main.find(byText("h1", "sales")).textContent, "sales");
  assert.ok(main.find(byText("p", "6 rows · 3 files · 3 columns")));
  assert.deepEqual(rowsOf(main.find(byLabel("table", "Columns of sales"))).map((row) => row.slice(0, 2)), [
    ["region", "varchar"],
    ["amount", "bigint"],
    ["channel", "varchar"],
  ]);
  const files = () => rowsOf(main.find(byLabel("table", "Files of sales"))).map(([name, rows, , added, missing]) => [name, rows, added, missing]);
  assert.deepEqual(files(), [
    ["jan.csv", "2", "region, amount", "none"],
    ["feb.csv", "3", "channel", "none"],
  ]);
  const history = () => rowsOf(main.find(byLabel("table", "Schema history of sales"))).map((row) => row.slice(0, 3));
  assert.deepEqual(history(), [
    ["region", "varchar", "jan.csv"],
    ["amount", "bigint", "jan.csv"],
    ["channel", "varchar", "feb.csv"],
  ]);
  assert.ok(main.find(byText("p", "Showing 2 of 3 files.")));
  assert.ok(main.find(byLabel("button", "Preview sales")));
  assert.ok(main.find(byLabel("button", "Query sales")));

  // Load more files: the next page, with this table's token; the button goes once they are all shown.
  const more = main.find(byText("button", "Load more files"));
  assert.equal(more.shown, true);
  more.click();
  await settle();
  assert.deepEqual(asked, [["sales", null], ["sales", "t2"]]);
  assert.deepEqual(files().map(([name]) => name), ["jan.csv", "feb.csv", "mar.csv"]);
  assert.deepEqual(files()[2], ["mar.csv", "1", "none", "channel"]);
  assert.equal(more.shown, false);
  assert.deepEqual(main.findAll(byText("p", "Showing 2 of 3 files.")), []);
});

test("a column added by a file not listed shows that file's id", async () => {
  const api = { table: async () => ({ ...SALES, files: [FEB], next_token: "t2", schema_history: HISTORY }) };
  const { main } = view(tableView, api, { name: "sales" });
  await settle();
  const rows = rowsOf(main.find(byLabel("table", "Schema history of sales")));
  assert.deepEqual(rows.map((row) => row[2]), ["F1", "F1", "feb.csv"]);
});

test("a table that is not yours is said so on the page, with the request id, and not as an error alert", async () => {
  const api = {
    table: async () => {
      throw new ApiError({ status: 404, code: "table_not_found", message: "No table of yours with that name.", requestId: "r-9" });
    },
  };
  const { main, notes } = view(tableView, api, { name: "nowhere" });
  await settle();
  assert.ok(main.find(byText("h1", "nowhere")));
  assert.ok(main.find(byText("p", "No table of yours with that name.")));
  assert.ok(main.find(byText("p", "Request id: r-9")));
  assert.deepEqual(notes, []);

  const failing = { table: async () => Promise.reject(new ApiError({ status: 503, code: "service_unavailable", message: "Busy." })) };
  const other = view(tableView, failing, { name: "sales" });
  await settle();
  assert.ok(other.main.find(byText("p", "The table could not be read: Busy.")));
  assert.equal(other.notes.length, 1);
});

test("Tables links each table to its page, counts its files, and searches by q and column type", async () => {
  const asked = [];
  const PEOPLE = { table: "people", file_id: "F9", columns: [{ name: "age", type: "bigint" }], row_count: 1, file_count: 1 };
  const api = { tables: async (search) => (asked.push(search), search.q === "age" ? [PEOPLE] : search.q === "zzz" ? [] : [PEOPLE, SALES]) };
  const { main, leave } = view(tablesView, api, { params: [] });
  await settle();
  const headings = () => main.findAll((element) => element.tagName === "H2").map((heading) => heading.textContent);
  assert.deepEqual(headings(), ["people", "sales"]);
  const link = main.find(byText("a", "sales"));
  assert.equal(link.getAttribute("href"), "#/tables/sales");
  assert.ok(main.find(byText("p", "6 rows · 3 files · 3 columns")));
  assert.ok(main.find(byText("p", "1 row · 1 file · 1 column")));
  // The column types offered are those the tables have.
  const types = main.find(byId("search-column-type"));
  assert.deepEqual(types.children.map((option) => option.value), ["", "bigint", "varchar"]);

  const box = main.find(byId("search-tables"));
  assert.equal(box.getAttribute("type"), "search");
  assert.ok(main.find((element) => element.tagName === "LABEL" && element.getAttribute("for") === "search-tables").textContent === "Search tables");
  const form = main.find((element) => element.getAttribute("role") === "search");
  box.value = " age ";
  form.dispatch("submit"); // Enter: at once, without waiting for the pause
  await settle();
  assert.deepEqual(headings(), ["people"]);
  assert.equal(main.find(byText("p", "1 table found")).getAttribute("role"), "status");

  box.value = "zzz";
  form.dispatch("submit");
  await settle();
  assert.ok(main.find(byText("p", "No table matches this search.")));

  types.value = "bigint";
  box.value = "";
  types.dispatch("change");
  await settle();
  box.value = "";
  types.value = "";
  form.dispatch("submit");
  await settle();
  assert.deepEqual(headings(), ["people", "sales"]);
  assert.deepEqual(asked, [{}, { q: "age" }, { q: "zzz" }, { column_type: "bigint" }, {}]);
  leave();
});

test("an answer to an earlier search that comes late is not shown", async () => {
  const answers = [];
  const api = { tables: (search) => new Promise((resolve) => answers.push({ search, resolve })) };
  const { main } = view(tablesView, api, { params: [] });
  answers[0].resolve([SALES]);
  await settle();
  const form = main.find((element) => element.getAttribute("role") === "search");
  main.find(byId("search-tables")).value = "first";
  form.dispatch("submit");
  main.find(byId("search-tables")).value = "second";
  form.dispatch("submit");
  answers[2].resolve([{ ...SALES, table: "second" }]);
  await settle();
  answers[1].resolve([{ ...SALES, table: "first" }]);
  await settle();
  assert.deepEqual(main.findAll((element) => element.tagName === "H2").map((heading) => heading.textContent), ["second"]);
});

test("a READY file links its table and says what it added or lacked; one on its way names the table it goes to", () => {
  const text = (node) => (Array.isArray(node) ? node.filter(Boolean).map((part) => part.textContent).join(" | ") : node?.textContent ?? node);
  const made = { status: "READY", table: "sales", columns: COLUMNS.slice(0, 2), drift: { added_columns: ["region", "amount"], missing_columns: [] } };
  assert.equal(driftNote(made), null); // the file that made the table: nothing to say
  assert.equal(text(outcome(made)), "sales");
  assert.equal(outcome(made)[0].getAttribute("href"), "#/tables/sales");
  const drifted = { status: "READY", table: "sales", columns: [], drift: { added_columns: ["channel"], missing_columns: ["qty", "sku"] } };
  assert.equal(text(outcome(drifted)), "sales | added channel; lacks qty, sku");
  assert.equal(text(outcome({ status: "PROCESSING", table: null, target_table: "sales", drift: null })), "into sales");
  assert.equal(text(outcome({ status: "FAILED", target_table: "sales", error: { code: "schema_mismatch", message: "Line 3: …" } })), "schema_mismatch: Line 3: …");
  assert.equal(outcome({ status: "UPLOADING", table: null, target_table: null }), "");
});

function filesApi(overrides = {}) {
  const asked = [];
  return {
    asked,
    files: async (token, search) => (asked.push(["files", token ?? null, search]), { files: [], next_token: null }),
    tables: async () => (asked.push(["tables"]), [SALES]),
    startUpload: async (...args) => {
      asked.push(["start", ...args]);
      throw new ApiError({ status: 400, code: "invalid_table_name", message: "A table name is 1 to 120 characters (table=sales_2024).", requestId: "r-5" });
    },
    deleteFile: async () => null,
    ...overrides,
  };
}

const ADMIN = { role: "admin", user_id: "u1" };

test("Add to table: a bad name is refused in the page and nothing is sent; a good one goes with every file", async () => {
  const api = filesApi();
  const { main, leave } = view(filesView, api, { me: ADMIN });
  await settle();
  const input = main.find(byId("add-to-table"));
  assert.equal(input.getAttribute("list"), "table-names");
  assert.ok(main.find((element) => element.tagName === "LABEL" && element.getAttribute("for") === "add-to-table").textContent === "Add to table");
  // The tenant's table names are offered once the field is used.
  input.dispatch("focus");
  await settle();
  assert.deepEqual(main.find(byId("table-names")).children.map((option) => option.value), ["sales"]);

  const picker = main.find(byId("upload-files"));
  const file = new File(["a\n1\n"], "jan.csv", { type: "text/csv" });
  input.value = "Sales";
  input.dispatch("input");
  const problem = main.find(byId("add-to-table-problem"));
  assert.equal(problem.shown, true);
  assert.match(problem.textContent, /Write it in lower case: sales\./);
  assert.equal(problem.getAttribute("role"), null); // while typing: said, not shouted
  assert.equal(input.getAttribute("aria-invalid"), "true");
  assert.equal(input.getAttribute("aria-describedby"), "add-to-table-problem");
  picker.dispatch("change", { target: { files: [file], value: "jan.csv" } });
  await settle();
  assert.equal(problem.getAttribute("role"), "alert");
  assert.equal(document.activeElement, input);
  assert.deepEqual(api.asked.filter(([what]) => what === "start"), []);

  // The name corrected: the upload names the table; the API's refusal, if it comes, is shown on the upload's line.
  input.value = " sales ";
  input.dispatch("input");
  assert.equal(problem.shown, false);
  assert.equal(input.getAttribute("aria-invalid"), null);
  picker.dispatch("change", { target: { files: [file, file], value: "" } });
  await settle();
  assert.deepEqual(api.asked.filter(([what]) => what === "start").map(([, name, , , table]) => [name, table]), [
    ["jan.csv", "sales"],
    ["jan.csv", "sales"],
  ]);
  leave();
});

test("the API's invalid_table_name, if it comes anyway, is shown with the upload", async () => {
  cancelUploads(); // the upload lines outlive a page: those of the test before go
  const api = filesApi();
  const { main, leave } = view(filesView, api, { me: ADMIN });
  await settle();
  const uploads = main.find(byLabel("ul", "Uploads"));
  main.find(byId("add-to-table")).value = "sales";
  main.find(byId("upload-files")).dispatch("change", { target: { files: [new File(["a"], "x.csv")], value: "" } });
  await settle();
  const said = uploads.find((element) => element.getAttribute("role") === "alert");
  assert.equal(said.textContent, "Not uploaded: A table name is 1 to 120 characters (table=sales_2024). (request id r-5)");
  assert.ok(uploads.find(byLabel("button", "Dismiss x.csv")));
  leave();
});

test("Files searches by q, status and format; a further page keeps the search; clearing it lists all again", async () => {
  const pages = {
    "|": { files: [{ file_id: "A", name: "a.csv", status: "READY", size: 1 }], next_token: null },
    "sales|": { files: [], next_token: "s2" }, // a search's page may be empty with more to come
    "sales|s2": { files: [{ file_id: "B", name: "sales.csv", status: "READY", size: 1, table: "sales" }], next_token: "s3" },
    "sales|s3": { files: [{ file_id: "C", name: "old_sales.csv", status: "FAILED", size: 1, error: { code: "duplicate_file", message: "Same as B." } }], next_token: null },
  };
  const api = filesApi({
    files: async (token, search) => (api.asked.push(["files", token ?? null, search]), pages[`${search.q ?? ""}|${token ?? ""}`]),
  });
  const { main, leave } = view(filesView, api, { me: ADMIN });
  await settle();
  const rowNames = () => rowsOf(main.find((element) => element.tagName === "TABLE")).map((row) => row[0]);
  assert.deepEqual(rowNames(), ["a.csv"]);

  const form = main.find((element) => element.getAttribute("role") === "search");
  main.find(byId("search-files")).value = "sales";
  main.find(byId("search-status")).value = "";
  form.dispatch("submit");
  await settle();
  assert.deepEqual(rowNames(), ["sales.csv"]);
  assert.ok(main.find(byText("p", "1 file found so far")));
  main.find(byText("button", "Show more files")).click();
  await settle();
  assert.deepEqual(rowNames(), ["sales.csv", "old_sales.csv"]);

  main.find(byId("search-files")).value = "";
  form.dispatch("submit");
  await settle();
  assert.deepEqual(rowNames(), ["a.csv"]);
  const searches = api.asked.filter(([what]) => what === "files").map(([, token, search]) => [token, search]);
  assert.deepEqual(searches, [
    [null, {}],
    [null, { q: "sales" }],
    ["s2", { q: "sales" }],
    ["s3", { q: "sales" }],
    [null, {}],
  ]);

  // Status and format are sent as chosen, at once.
  main.find(byId("search-status")).value = "FAILED";
  main.find(byId("search-status")).dispatch("change");
  main.find(byId("search-format")).value = "csv";
  main.find(byId("search-format")).dispatch("change");
  await settle();
  assert.deepEqual(api.asked.at(-1), ["files", null, { status: "FAILED", format: "csv" }]);
  leave();
});
