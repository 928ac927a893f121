import assert from "node:assert/strict";
import { test } from "node:test";

import { Api } from "../../app/js/api.js";
import { filledPage } from "../../app/js/listing.js";
import { debounce, isSearching, sameSearch, searchParams, tableChoice, tableNameProblem } from "../../app/js/search.js";
import { Upload } from "../../app/js/upload.js";
import { MemoryStorage, jsonResponse, scriptedFetch } from "./fakes.mjs";

test("a table name follows the API's rule, and a refused one says why", () => {
  for (const name of ["sales", "sales_2024", "_staging", "a", "x".repeat(120), ""]) assert.equal(tableNameProblem(name), null, name);
  const refused = {
    Sales: /Write it in lower case: sales\./,
    "2024": /starts with a digit/,
    "sales.csv": /Not allowed: "\."/,
    ___: /only underscores/,
    "Sales 2024": /Not allowed: capital letters, spaces/,
    ["x".repeat(121)]: /has 121 characters/,
    "café": /Not allowed: "é"/,
  };
  for (const [name, why] of Object.entries(refused)) {
    const problem = tableNameProblem(name);
    assert.match(problem, /^A table name is 1 to 120 characters of a-z, 0-9 and _, not starting with a digit\./, name);
    assert.match(problem, why, name);
  }
});

test("the table an upload names is what was typed, trimmed; nothing typed is a table of the file's own", () => {
  assert.equal(tableChoice("  sales "), "sales");
  assert.equal(tableChoice("   "), null);
  assert.equal(tableChoice(undefined), null);
});

test("a search sends only what was given, trimmed, without control characters, at most 255 characters", () => {
  assert.deepEqual(searchParams({ q: "  sales ", status: "", format: "csv" }), { q: "sales", format: "csv" });
  assert.deepEqual(searchParams({ q: "a\tb\u0000c" }), { q: "a b c" });
  assert.equal(searchParams({ q: "x".repeat(300) }).q.length, 255);
  assert.deepEqual(searchParams({ q: "   ", column_type: "" }), {});
  assert.equal(isSearching({}), false);
  assert.equal(isSearching({ q: "a" }), true);
  assert.ok(sameSearch({ q: "a", status: "READY" }, { status: "READY", q: "a" }));
  assert.ok(!sameSearch({ q: "a" }, { q: "a", format: "csv" }));
});

test("a search waits for typing to pause; Enter searches at once", () => {
  const timers = new Map();
  let next = 0;
  const clock = {
    setTimeout: (callback, delay) => (timers.set(++next, { callback, delay }), next),
    clearTimeout: (id) => timers.delete(id),
  };
  const searched = [];
  const typed = debounce(() => searched.push("search"), 300, clock);
  typed();
  typed();
  typed();
  assert.equal(timers.size, 1); // each key press put the search off again
  const [[id, { callback, delay }]] = timers.entries();
  assert.equal(delay, 300);
  timers.delete(id); // it fires
  callback();
  assert.deepEqual(searched, ["search"]);
  typed();
  typed.now();
  assert.equal(timers.size, 0);
  assert.deepEqual(searched, ["search", "search"]);
  typed();
  typed.cancel();
  assert.equal(timers.size, 0);
});

test("a search's empty pages are read past until one holds entries or the list ends", async () => {
  const pages = { null: { files: [], next_token: "t2" }, t2: { files: [], next_token: "t3" }, t3: { files: [{ id: 1 }], next_token: "t4" } };
  const read = [];
  const page = await filledPage(async (token) => (read.push(token), pages[token]), null, "files");
  assert.deepEqual(page, { entries: [{ id: 1 }], next_token: "t4" });
  assert.deepEqual(read, [null, "t2", "t3"]);
  // Endless empty pages: it gives up after a few and lets "Show more" go on.
  const empty = await filledPage(async (token) => ({ files: [], next_token: `${token}+` }), "t", "files", 3);
  assert.deepEqual(empty, { entries: [], next_token: "t+++" });
});

function signedInApi(handler) {
  const storage = new MemoryStorage();
  storage.setItem("sdp.session", JSON.stringify({ email: "ana@example.com", refresh_token: "r" }));
  const { fetch, calls } = scriptedFetch(({ path, ...call }) =>
    path === "/auth/refresh"
      ? jsonResponse(200, { id_token: "id", refresh_token: "r", expires_in: 3600 })
      : handler({ path, ...call }),
  );
  return { api: new Api({ baseUrl: "http://platform.test", storage, fetch }), calls };
}

test("searches, the table page and uploads into a table go to the API as it documents them", async () => {
  const { api, calls } = signedInApi(({ path, query }) => {
    if (path === "/tables" && !query.get("next_token")) return jsonResponse(200, { tables: [{ table: "a" }], next_token: "n1" });
    if (path === "/tables") return jsonResponse(200, { tables: [{ table: "b" }], next_token: null });
    if (path === "/uploads") return jsonResponse(201, { file_id: "f" });
    return jsonResponse(200, { files: [], next_token: null });
  });
  await api.files(null, { q: "sales", status: "READY" });
  await api.files("tok", { q: "sales" });
  await api.files();
  assert.deepEqual(await api.tables({ q: "chan", column_type: "decimal(18,2)" }), [{ table: "a" }, { table: "b" }]);
  await api.table("sales");
  await api.table("sales", "tok2");
  await api.startUpload("jan.csv", 10, "text/csv", "sales");
  await api.startUpload("feb.csv", 10, "", null);
  const asked = calls.filter((call) => call.path !== "/auth/refresh").map((call) => `${call.method} ${call.path}?${call.query}`);
  assert.deepEqual(asked, [
    "GET /files?limit=100&q=sales&status=READY",
    "GET /files?limit=100&next_token=tok&q=sales", // a further page of the same search
    "GET /files?limit=100",
    "GET /tables?limit=1000&q=chan&column_type=decimal%2818%2C2%29",
    "GET /tables?limit=1000&next_token=n1&q=chan&column_type=decimal%2818%2C2%29",
    "GET /tables/sales?limit=100",
    "GET /tables/sales?limit=100&next_token=tok2",
    "POST /uploads?",
    "POST /uploads?",
  ]);
  const bodies = calls.filter((call) => call.path === "/uploads").map((call) => JSON.parse(call.init.body));
  assert.deepEqual(bodies, [
    { name: "jan.csv", size: 10, content_type: "text/csv", table: "sales" },
    { name: "feb.csv", size: 10 },
  ]);
});

test("an upload names its table to the API, on the presigned POST and the multipart paths alike", async () => {
  for (const upload of [
    { method: "POST", url: "https://s3.test/b", fields: { key: "k" } },
    { method: "MULTIPART", upload_id: "u", part_size: 4, parts: [{ part_number: 1, url: "https://s3.test/p1" }], next_part: null },
  ]) {
    const started = [];
    const api = {
      startUpload: async (...args) => (started.push(args), { file_id: "f1", upload }),
      completeUpload: async () => ({ file_id: "f1", status: "PROCESSING" }),
    };
    const send = async () => ({ status: 200, etag: '"e"', text: "" });
    const file = new File(["a,b\n"], "jan.csv", { type: "text/csv" });
    await new Upload(api, file, { table: "sales", send }).run();
    assert.deepEqual(started, [["jan.csv", 4, "text/csv", "sales"]]);
  }
});
