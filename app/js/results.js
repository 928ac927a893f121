// Running a query to its end, and showing rows as a table.

import { ApiError } from "./errors.js";
import { h } from "./dom.js";

export const PAGE_ROWS = 100;
// How long one status request may wait for the end: short enough that status changes show.
const WAIT_SECONDS = 5;
export const FINISHED = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);
const BUSY_RETRIES = 5;
const BUSY_PAUSE_MS = 1000;

/** Poll (with the API's ?wait=) until the query ends; `onStatus(record)` after each answer. */
export async function waitForQuery(
  api,
  queryId,
  { onStatus = () => {}, stopped = () => false, pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms)) } = {},
) {
  let busy = 0;
  for (;;) {
    let record;
    try {
      record = await api.query(queryId, { wait: WAIT_SECONDS, maxRows: PAGE_ROWS });
    } catch (error) {
      // The engine too busy to answer now (503) is asked again a little later, a few times.
      if (!(error instanceof ApiError && error.status === 503) || ++busy > BUSY_RETRIES) throw error;
      await pause(BUSY_PAUSE_MS * busy);
      continue;
    }
    onStatus(record);
    if (FINISHED.has(record.status) || stopped()) return record;
  }
}

/** A finished query's failure as an error to show; null when it succeeded. */
export function queryFailure(record) {
  if (record.status === "SUCCEEDED") return null;
  if (record.status === "CANCELLED") return new ApiError({ code: "query_cancelled", message: "The query was cancelled." });
  return new ApiError({
    code: record.error?.code ?? "query_failed",
    message: record.error?.message ?? "The query failed.",
  });
}

function cell(value) {
  if (value === null || value === undefined) return h("td", { class: "null" }, "NULL");
  if (typeof value === "number") return h("td", { class: "number" }, String(value));
  if (typeof value === "object") return h("td", {}, JSON.stringify(value));
  return h("td", {}, String(value));
}

/** A table named `label` with the columns' names (types on hover) and the rows as JSON values. */
export function rowsTable(label, columns, rows) {
  const body = h("tbody", {}, rows.map((row) => h("tr", {}, row.map(cell))));
  const table = h(
    "table",
    { class: "grid", "aria-label": label },
    h("thead", {}, h("tr", {}, columns.map((column) => h("th", { scope: "col", title: column.type }, column.name)))),
    body,
  );
  return { table, append: (more) => body.append(...more.map((row) => h("tr", {}, row.map(cell)))) };
}
