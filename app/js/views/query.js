// Query: a SQL editor with completion and a cost line under it (what the SQL would scan and cost),
// Run (Ctrl/Cmd+Enter), status with a timer and Cancel, the result a page at a time with the whole
// of it as CSV, the saved queries beside the editor, and the history to open or run again.

import { h, show } from "../dom.js";
import { createEditor } from "../editor.js";
import { describe } from "../errors.js";
import { describeEstimate, estimateProblem, estimator } from "../estimate.js";
import { formatBytes, formatCount, formatDay, formatDuration, formatTime } from "../format.js";
import { FINISHED, PAGE_ROWS, queryFailure, rowsTable, waitForQuery } from "../results.js";
import { withFreshFirstPage, withNextPage } from "../listing.js";
import { DRAFT_KEY, errorRange, pointAt } from "../sql.js";
import { savedQueriesPanel } from "./saved.js";

const TIMER_MS = 100;

// The API's refusals of a query that are about the SQL or the budget: said under the editor.
const REFUSALS = new Set(["invalid_sql", "forbidden_sql", "budget_exceeded"]);

export function queryView({ api, main, notify, clearNotice, me }) {
  const editorBox = h("div", { class: "editor" });
  const run = h("button", { type: "button", class: "primary", disabled: true }, "Run");
  const cancel = h("button", { type: "button", hidden: true }, "Cancel");
  const status = h("span", { role: "status", class: "query-status" });
  const timer = h("span", { class: "timer" });
  const refusal = h("div", { class: "refusal", hidden: true });
  // Not a second role="status": the page's one status is the running query's.
  const costLine = h("p", { class: "cost-line" });
  const costWarning = h("p", { class: "cost-warning", hidden: true });
  const cost = h("section", { class: "cost", "aria-label": "Cost estimate", "aria-live": "polite", "aria-atomic": "true", hidden: true }, costLine, costWarning);
  const results = h("section", { class: "results", "aria-label": "Result" });
  const history = h("tbody");
  const older = h("button", { type: "button", hidden: true }, "Show older queries");
  const noHistory = h("p", { class: "empty", hidden: true }, "No queries yet.");
  let pastQueries = [];
  let historyToken = null;
  let editor = null;
  let current = null; // the query being run or shown: {queryId, nextToken}
  let ticking = null;
  let left = false;

  const estimate = estimator((sql) => api.estimateQuery(sql), showEstimate, {
    pending: () => {
      cost.classList.add("stale");
      cost.setAttribute("aria-busy", "true");
    },
  });
  const saved = savedQueriesPanel({
    api,
    me,
    notify,
    clearNotice,
    sql: () => editor?.value() ?? "",
    load: (query) => editor?.setValue(query.sql),
    run: (query) => {
      if (!editor) return;
      editor.setValue(query.sql);
      execute(query.sql, () => api.runSavedQuery(query.saved_query_id));
    },
    busy: () => run.disabled,
  });

  show(
    main,
    h("h1", {}, "Query"),
    h(
      "div",
      { class: "query-layout" },
      h(
        "div",
        { class: "query-main" },
        editorBox,
        cost,
        h("div", { class: "toolbar" }, run, cancel, status, timer, h("span", { class: "hint" }, "Ctrl+Enter or ⌘+Enter runs")),
        refusal,
      ),
      saved.element,
    ),
    results,
    h(
      "section",
      { class: "history", "aria-label": "Query history" },
      h("h2", {}, "History"),
      h(
        "div",
        { class: "wide" },
        h(
          "table",
          { class: "grid", "aria-label": "Query history" },
          h("thead", {}, h("tr", {}, ["Submitted", "Status", "SQL", h("span", { class: "visually-hidden" }, "Actions")].map((title) => h("th", { scope: "col" }, title)))),
          history,
        ),
      ),
      noHistory,
      older,
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

  /** The dry run's answer for the editor's latest text, a quiet note if it was refused, or nothing. */
  function showEstimate(outcome) {
    cost.classList.remove("stale", "refused", "over");
    cost.removeAttribute("aria-busy");
    costWarning.hidden = true;
    if (!outcome) {
      cost.hidden = true;
      costLine.textContent = "";
      return;
    }
    cost.hidden = false;
    const { answer, error } = outcome;
    if (error || answer?.dry_run !== true) {
      cost.classList.add("refused");
      costLine.textContent = estimateProblem(error ?? new Error("the platform answered without an estimate."));
      return;
    }
    const { line, warning } = describeEstimate(answer);
    costLine.textContent = line;
    if (warning) {
      cost.classList.add("over");
      costWarning.textContent = warning;
      costWarning.hidden = false;
    }
  }

  function showRefusal(error, sql) {
    const { message, requestId } = describe(error);
    const range = error.line ? errorRange(sql, error.line, error.column) : null;
    const overBudget = error.code === "budget_exceeded";
    const budget = overBudget ? budgetLeft(error.details ?? {}) : null;
    show(
      refusal,
      h("p", { class: "failure" }, overBudget ? "Not run: this query would scan more than is left of this month's scan budget." : message),
      budget ? h("p", {}, budget, " ", h("a", { href: "#/usage" }, "See usage")) : null,
      overBudget ? h("p", { class: "said" }, message) : null,
      range ? h("pre", { class: "point", "aria-label": `Line ${error.line}, column ${error.column}` }, pointAt(sql, error.line, error.column)) : null,
      requestId ? h("p", { class: "request-id" }, `Request id: ${requestId}`) : null,
    );
    refusal.hidden = false;
    if (range) editor.markError(range);
  }

  function showResult(record) {
    current = { queryId: record.query_id };
    const failure = queryFailure(record);
    if (failure) {
      show(results, h("p", { class: "failure" }, failure.message));
      return;
    }
    const grid = rowsTable("Results", record.columns, record.rows);
    let nextToken = record.next_token ?? null; // this result's own: a later result has another
    const more = h("button", { type: "button", hidden: !nextToken }, "Load more rows");
    const shown = h("span", {}, "");
    const count = () => (shown.textContent = `Showing ${formatCount(grid.table.tBodies[0].rows.length)} of ${formatCount(record.stats?.rows)} rows`);
    more.addEventListener("click", async () => {
      more.disabled = true;
      try {
        const page = await api.query(record.query_id, { maxRows: PAGE_ROWS, nextToken });
        grid.append(page.rows);
        nextToken = page.next_token ?? null;
        count();
        more.hidden = !nextToken;
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
        record.reused ? [" · ", h("span", { class: "reused", title: "The same query's earlier result, served again: nothing was scanned" }, "reused earlier result")] : null,
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

  /** Until the query ends, its status (announced only when it changes). */
  function setStatus(text) {
    if (status.textContent !== text) status.textContent = text;
  }

  /** Run `sql` (`start()` sends it: a plain query, or a saved query's run) and show how it ends. */
  async function execute(sql, start = () => api.runQuery(sql)) {
    if (run.disabled) return; // one query at a time from here: Ctrl+Enter while one runs does nothing
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
    current = null;
    status.textContent = "Submitting…";
    try {
      const started = await start();
      current = { queryId: started.query_id, nextToken: null };
      setStatus(started.status);
      refreshHistory();
      const record = await waitForQuery(api, started.query_id, {
        onStatus: (answer) => setStatus(answer.status),
        stopped: () => left,
      });
      if (left) return;
      setStatus(record.status);
      showResult(record);
    } catch (error) {
      status.textContent = "";
      if (REFUSALS.has(error.code)) showRefusal(error, sql);
      else notify(error);
    } finally {
      setRunning(false);
      timer.textContent = status.textContent && FINISHED.has(status.textContent) ? timer.textContent : "";
      refreshHistory();
    }
  }

  /** Show a past query: its result or error, or, if it is still running, wait for its end. */
  async function open(record) {
    if (run.disabled) return;
    clearNotice();
    refusal.hidden = true;
    editor.setValue(record.sql);
    results.replaceChildren();
    timer.textContent = "";
    setStatus(record.status);
    setRunning(!FINISHED.has(record.status), performance.now());
    current = { queryId: record.query_id };
    try {
      const full = await waitForQuery(api, record.query_id, { onStatus: (answer) => setStatus(answer.status), stopped: () => left });
      if (!left) showResult(full);
    } catch (error) {
      notify(error);
    } finally {
      setRunning(false);
      timer.textContent = "";
    }
  }

  function historyRow(record) {
    return h(
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
          h("button", { type: "button", onclick: () => run.disabled || (editor.setValue(record.sql), execute(record.sql)) }, "Run again"),
        ),
      ),
    );
  }

  /** The history's first page again (a query was just sent or ended); older pages stay as shown. */
  async function refreshHistory() {
    try {
      const page = await api.queries();
      if (left) return;
      const onlyFirstPage = pastQueries.length <= page.queries.length;
      pastQueries = withFreshFirstPage(pastQueries, page.queries, "query_id");
      if (onlyFirstPage) historyToken = page.next_token ?? null;
      drawHistory();
    } catch (error) {
      notify(error);
    }
  }

  async function olderQueries() {
    older.disabled = true;
    try {
      const page = await api.queries(historyToken);
      pastQueries = withNextPage(pastQueries, page.queries, "query_id");
      historyToken = page.next_token ?? null;
      drawHistory();
    } catch (error) {
      notify(error);
    } finally {
      older.disabled = false;
    }
  }

  function drawHistory() {
    show(history, pastQueries.map(historyRow));
    noHistory.hidden = pastQueries.length > 0;
    older.hidden = !historyToken;
  }

  older.addEventListener("click", olderQueries);
  run.addEventListener("click", () => execute(editor.value()));
  cancel.addEventListener("click", async () => {
    if (!current) return; // not accepted yet: Cancel is pressed again once it is
    // Said before asking: the query's end may be seen (CANCELLED) before the answer to this arrives.
    setStatus("Cancelling…");
    try {
      await api.cancelQuery(current.queryId);
    } catch (error) {
      notify(error);
    }
  });

  createEditor(editorBox, {
    doc: sessionStorage.getItem(DRAFT_KEY) ?? "",
    onRun: () => execute(editor.value()),
    onChange: (text) => {
      sessionStorage.setItem(DRAFT_KEY, text);
      estimate(text);
    },
  })
    .then(async (made) => {
      editor = made;
      if (left) return;
      run.disabled = false;
      editor.focus();
      estimate(editor.value());
      const tables = await api.tables();
      editor.setTables(Object.fromEntries(tables.map((table) => [table.table, table.columns.map((column) => column.name)])));
    })
    .catch((error) => notify(error));
  refreshHistory();

  return () => {
    left = true;
    clearInterval(ticking);
    estimate.stop();
    saved.leave();
  };
}

/** What a budget_exceeded refusal adds: what is left of the month's budget and when it starts again. */
export function budgetLeft({ remaining_scan_bytes: remaining, resets_at: resets }) {
  const left = remaining === null || remaining === undefined ? null : `${formatBytes(remaining)} of this month's scanning budget is left`;
  const again = resets ? `it resets on ${formatDay(resets, { year: true })}` : null;
  if (!left && !again) return null;
  return `${[left, again].filter(Boolean).join("; ")}.`.replace(/^./, (first) => first.toUpperCase());
}
