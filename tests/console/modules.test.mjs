import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError, describe, errorFromResponse } from "../../app/js/errors.js";
import { formatBytes, formatDuration } from "../../app/js/format.js";
import { withFreshFirstPage, withNextPage } from "../../app/js/listing.js";
import { queryFailure, waitForQuery } from "../../app/js/results.js";
import { errorRange, pointAt, quoteIdentifier } from "../../app/js/sql.js";
import { apiError } from "./fakes.mjs";

test("an API error keeps its code, message and request id; a syntax error its line and column", async () => {
  const error = await errorFromResponse(apiError(400, "invalid_sql", "Syntax error at line 2, column 8: something is missing here.", "r-42"));
  assert.equal(error.status, 400);
  assert.equal(error.code, "invalid_sql");
  assert.equal(error.requestId, "r-42");
  assert.equal(error.line, 2);
  assert.equal(error.column, 8);
  assert.deepEqual(describe(error), { message: error.message, code: "invalid_sql", requestId: "r-42" });
});

test("an answer that is not the API's shape (a proxy's page) is described from its status", async () => {
  const response = new Response("<html>Bad Gateway</html>", { status: 502, statusText: "Bad Gateway", headers: { "X-Request-Id": "r-7" } });
  const error = await errorFromResponse(response);
  assert.equal(error.code, "service_unavailable");
  assert.match(error.message, /502 Bad Gateway/);
  assert.equal(error.requestId, "r-7");
  assert.equal((await errorFromResponse(new Response("{}", { status: 404 }))).code, "unexpected_response");
});

test("any other error is shown by its message, with no request id", () => {
  assert.deepEqual(describe(new Error("boom")), { message: "boom", code: "console_error", requestId: null });
});

test("a syntax error marks the word that ends at its column", () => {
  const sql = "SELECT a\nFROM t WHERE x = = 1";
  const range = errorRange(sql, 2, 4);
  assert.equal(sql.slice(range.from, range.to), "FROM");
  assert.equal(pointAt(sql, 2, 4), "2 | FROM t WHERE x = = 1\n    ^^^^");
  assert.equal(sql.slice(errorRange(sql, 2, 18).from, errorRange(sql, 2, 18).to), "=");
  assert.equal(errorRange(sql, 3, 1), null);
  assert.equal(pointAt(sql, 9, 1), "");
});

test("a column past the line's end marks its last character", () => {
  const range = errorRange("SELECT (", 1, 40);
  assert.deepEqual([range.from, range.to], [7, 8]);
});

test("identifiers are quoted only when they must be", () => {
  assert.equal(quoteIdentifier("sales_2024"), "sales_2024");
  assert.equal(quoteIdentifier("Weird Name"), '"Weird Name"');
  assert.equal(quoteIdentifier('a"b'), '"a""b"');
});

test("sizes and times read as a person writes them", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(101 * 1024 * 1024), "101 MiB");
  assert.equal(formatDuration(420), "0.4 s");
  assert.equal(formatDuration(12_400), "12 s");
  assert.equal(formatDuration(185_000), "3 min 05 s");
});

test("a finished query's failure carries the engine's code and message", () => {
  assert.equal(queryFailure({ status: "SUCCEEDED" }), null);
  const failed = queryFailure({ status: "FAILED", error: { code: "query_failed", message: "Division by zero" } });
  assert.ok(failed instanceof ApiError);
  assert.equal(failed.message, "Division by zero");
  assert.equal(queryFailure({ status: "CANCELLED" }).code, "query_cancelled");
});

test("a list's first page read again keeps the pages opened beyond it, even when its boundary moves", () => {
  const shown = [{ id: 3 }, { id: 2 }, { id: 1 }]; // pages of two: [3, 2], [1]
  const fresh = [{ id: 4, v: "new" }, { id: 3, v: "changed" }]; // a new file pushed 2 off the first page
  assert.deepEqual(withFreshFirstPage(shown, fresh, "id"), [{ id: 4, v: "new" }, { id: 3, v: "changed" }, { id: 2 }, { id: 1 }]);
  // The next page, asked for with the old token, repeats what is shown: nothing is listed twice.
  assert.deepEqual(withNextPage([{ id: 4 }, { id: 3 }, { id: 2 }], [{ id: 2 }, { id: 1 }], "id").map((e) => e.id), [4, 3, 2, 1]);
});

test("a syntax error's column counts characters, as the guard does, even after an emoji", () => {
  const sql = "SELECT '🙂' AS face FROM";
  const range = errorRange(sql, 1, 24); // "FROM" ends at character 24 (UTF-16: 25)
  assert.equal(sql.slice(range.from, range.to), "FROM");
});

test("waiting for a query asks again when the engine is busy, and gives up after a few tries", async () => {
  const answers = [
    new ApiError({ status: 503, code: "query_engine_busy", message: "busy" }),
    { status: "RUNNING" },
    { status: "SUCCEEDED", rows: [] },
  ];
  const seen = [];
  const api = { query: async () => { const next = answers.shift(); if (next instanceof Error) throw next; return next; } };
  const record = await waitForQuery(api, "q1", { onStatus: (r) => seen.push(r.status), pause: async () => {} });
  assert.equal(record.status, "SUCCEEDED");
  assert.deepEqual(seen, ["RUNNING", "SUCCEEDED"]);

  const busy = { query: async () => { throw new ApiError({ status: 503, code: "query_engine_busy", message: "busy" }); } };
  await assert.rejects(waitForQuery(busy, "q1", { pause: async () => {} }), /busy/);
  const refused = { query: async () => { throw new ApiError({ status: 404, code: "query_not_found", message: "gone" }); } };
  await assert.rejects(waitForQuery(refused, "q1", { pause: async () => {} }), /gone/);
});
