// Query: a SQL editor with completion, Run (Ctrl/Cmd+Enter), status with a timer and Cancel, the
// result a page at a time with the whole of it as CSV, and the history to open or run again.

import { h, show } from "../dom.js";
import { createEditor } from "../editor.js";
import { describe } from "../errors.js";
import { formatBytes, formatCount, formatDuration, formatTime } from "../format.js";
import { FINISHED, PAGE_ROWS, queryFailure, rowsTable, waitForQuery } from "../results.js";
import { errorRange, pointAt } from "../sql.js";

const DRAFT_KEY = "sdp.draft";
const TIMER_MS = 100;

export function queryView({ api, main, notify, clearNotice }) {
  const editorBox = h("div", { class: "editor" });
  const run = h("button", { type: "button", class: "primary", disabled: true }, "Run");
  const cancel = h("button", { type: "button", hidden: true }, "Cancel");
  const status = h("span", { role: "status", class: "query-status" });
  const timer = h("span", { class: "timer" });
  const refusal = h("div", { class: "refusal", hidden: true });
  const results = h("section", { class: "results", "aria-label": "Result" });
  const history = h("tbody");
  let editor = null;
  let current = null; // the query being run or shown: {queryId, nextToken}
  let ticking = null;
  let left = false;

  show(
    main,
    h("h1", {}, "Query"),
    editorBox,
    h("div", { class: "toolbar" }, run, cancel, status, timer, h("span", { class: "hint" }, "Ctrl+Enter or ⌘+Enter runs")),
    refusal,
    results,
    h(
      "section",
      { class: "history", "aria-label": "Query history" },
      h("h2", {}, "History"),
      h(
        "table",
        { class: "grid", "aria-label": "Query history" },
        h("thead", {}, h("tr", {}, ["Submitted", "Status", "SQL", h("span", { class: "visually-hidden" }, "Actions")].map((title) => h("th", { scope: "col" }, title)))),
        history,
      ),
    ),
  );

  function setRunning(running, startedAt) {
    run.disabled = running;
    cancel.hidden = !running;
    clearInterval(ticking);
    if (running) {
      const tick = () => (timer.textContent = formatDuration(performance.now() - startedAt));
      tick();
      ticking = setInterval(tick, TIMER_MS);
    }
  }

  function showRefusal(error, sql) {
    const { message, requestId } = describe(error);
    const range = error.line ? errorRange(sql, error.line, error.column) : null;
    show(
      refusal,
      h("p", { class: "failure" }, message),
      range ? h("pre", { class: "point", "aria-label": `Line ${error.line}, column ${error.column}` }, pointAt(sql, error.line, error.column)) : null,
      requestId ? h("p", { class: "request-id" }, `Request id: ${requestId}`) : null,
    );
    refusal.hidden = false;
    if (range) editor.markError(range);
  }

  async function showResult(record) {
    current = { queryId: record.query_id, nextToken: record.next_token ?? null };
    const failure = queryFailure(record);
    if (failure) {
      show(results, h("p", { class: "failure" }, failure.message));
      return;
    }
    const grid = rowsTable("Results", record.columns, record.rows);
    const more = h("button", { type: "button", hidden: !current.nextToken }, "Load more rows");
    const shown = h("span", {}, "");
    const count = () => (shown.textContent = `Showing ${formatCount(grid.table.tBodies[0].rows.length)} of ${formatCount(record.stats?.rows)} rows`);
    more.addEventListener("click", async () => {
      more.disabled = true;
      try {
        const page = await api.query(record.query_id, { maxRows: PAGE_ROWS, nextToken: current.nextToken });
        grid.append(page.rows);
        current.nextToken = page.next_token ?? null;
        count();
        more.hidden = !current.nextToken;
      } catch (error) {
        notify(error);
      } finally {
        more.disabled = false;
      }
    });
    const download = h("button", { type: "button" }, "Download CSV");
    download.addEventListener("click", () => downloadCsv(record.query_id));
    count();
    const stats = record.stats ?? {};
    show(
      results,
      h("h2", {}, "Results"),
      h(
        "p",
        { class: "stats" },
        shown,
        ` · ${formatDuration(stats.runtime_ms ?? 0)} · ${formatBytes(stats.bytes_scanned ?? 0)} scanned`,
      ),
      h("div", { class: "actions" }, download),
      h("div", { class: "scroll" }, grid.table),
      more,
    );
  }

  async function downloadCsv(queryId) {
    try {
      const { url } = await api.resultsCsv(queryId);
      // The link answers with Content-Disposition: attachment, so the page stays where it is.
      const link = h("a", { href: url, download: `${queryId}.csv`, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
    } catch (error) {
      notify(error);
    }
  }

  async function execute(sql) {
    if (!sql.trim()) {
      showRefusal(new Error("Write a query first, e.g. SELECT * FROM your_table LIMIT 10."), sql);
      return;
    }
    clearNotice();
    refusal.hidden = true;
    editor.clearError();
    results.replaceChildren();
    const startedAt = performance.now();
    setRunning(true, startedAt);
    status.textContent = "Submitting…";
    try {
      const started = await api.runQuery(sql);
      current = { queryId: started.query_id, nextToken: null };
      status.textContent = started.status;
      refreshHistory();
      const record = await waitForQuery(api, started.query_id, {
        onStatus: (answer) => (status.textContent = answer.status),
        stopped: () => left,
      });
      if (left) return;
      status.textContent = record.status;
      await showResult(record);
    } catch (error) {
      status.textContent = "";
      if (error.code === "invalid_sql" || error.code === "forbidden_sql") showRefusal(error, sql);
      else notify(error);
    } finally {
      setRunning(false);
      timer.textContent = status.textContent && FINISHED.has(status.textContent) ? timer.textContent : "";
      refreshHistory();
    }
  }

  async function open(record) {
    clearNotice();
    refusal.hidden = true;
    editor.setValue(record.sql);
    status.textContent = record.status;
    timer.textContent = "";
    try {
      const full = FINISHED.has(record.status) ? await api.query(record.query_id, { maxRows: PAGE_ROWS }) : record;
      await showResult(full);
    } catch (error) {
      notify(error);
    }
  }

  async function refreshHistory() {
    try {
      const page = await api.queries();
      if (left) return;
      show(
        history,
        page.queries.map((record) =>
          h(
            "tr",
            {},
            h("td", { class: "when" }, formatTime(record.submitted_at)),
            h("td", {}, record.status),
            h("td", {}, h("code", { title: record.sql }, record.sql.length > 200 ? `${record.sql.slice(0, 197)}…` : record.sql)),
            h(
              "td",
              {},
              h(
                "div",
                { class: "actions" },
                h("button", { type: "button", onclick: () => open(record) }, "Open"),
                h("button", { type: "button", onclick: () => (editor.setValue(record.sql), execute(record.sql)) }, "Run again"),
              ),
            ),
          ),
        ),
      );
    } catch (error) {
      notify(error);
    }
  }

  run.addEventListener("click", () => execute(editor.value()));
  cancel.addEventListener("click", async () => {
    if (!current) return;
    try {
      await api.cancelQuery(current.queryId);
      status.textContent = "Cancelling…";
    } catch (error) {
      notify(error);
    }
  });

  createEditor(editorBox, {
    doc: sessionStorage.getItem(DRAFT_KEY) ?? "",
    onRun: () => execute(editor.value()),
    onChange: (text) => sessionStorage.setItem(DRAFT_KEY, text),
  })
    .then(async (made) => {
      editor = made;
      if (left) return;
      run.disabled = false;
      editor.focus();
      const tables = await api.tables();
      editor.setTables(Object.fromEntries(tables.map((table) => [table.table, table.columns.map((column) => column.name)])));
    })
    .catch((error) => notify(error));
  refreshHistory();

  return () => {
    left = true;
    clearInterval(ticking);
  };
}
