// The cost line under the SQL editor: what the editor's SQL would scan and cost (POST /queries with
// "dry_run": true), asked once typing pauses, one request at a time, only the latest edit's answer shown.

import { formatBytes, formatDay, formatUsd } from "./format.js";

export const ESTIMATE_DELAY_MS = 400;

/**
 * Estimates for the editor's text as it changes. `estimator(ask, show)` returns `changed(sql)`, to
 * call on every edit:
 *   - an empty (or blank) text shows nothing at once: `show(null)`;
 *   - otherwise, once no edit came for `delay` ms, `ask(sql)` (a promise of the answer) is called,
 *     unless a request is still in flight: then this text waits, and goes when that answer is in
 *     (only the latest text waits: never more than one request in flight, none queued behind it);
 *   - an answer is shown, `show({sql, answer})` or `show({sql, error})`, only if no edit came after
 *     the text it answers; an older answer is dropped.
 * `pending(sql)` is called on each edit that will be estimated (the line can say it is out of date).
 * `changed.stop()` drops the wait and any answer still to come (the page was left).
 */
export function estimator(ask, show, { pending = () => {}, delay = ESTIMATE_DELAY_MS, clock = globalThis } = {}) {
  let edit = 0; // the number of the latest edit: an answer to an earlier one is not shown
  let timer = null;
  let inFlight = false;
  let waiting = null; // {sql, edit}: due while a request was in flight; sent when its answer is in

  function send(sql, number) {
    inFlight = true;
    let asked;
    try {
      asked = Promise.resolve(ask(sql));
    } catch (error) {
      asked = Promise.reject(error);
    }
    asked.then(
      (answer) => arrived(sql, number, { answer }),
      (error) => arrived(sql, number, { error }),
    );
  }

  function arrived(sql, number, outcome) {
    inFlight = false;
    if (waiting) {
      const next = waiting;
      waiting = null;
      send(next.sql, next.edit);
      return;
    }
    if (number === edit) show({ sql, ...outcome });
  }

  function changed(sql) {
    edit += 1;
    clock.clearTimeout(timer);
    timer = null;
    waiting = null;
    if (!String(sql ?? "").trim()) {
      show(null);
      return;
    }
    const number = edit;
    pending(sql);
    timer = clock.setTimeout(() => {
      timer = null;
      if (inFlight) waiting = { sql, edit: number };
      else send(sql, number);
    }, delay);
  }

  changed.stop = () => {
    edit += 1;
    clock.clearTimeout(timer);
    timer = null;
    waiting = null;
  };
  return changed;
}

/** "sales(amount, region), regions(name)": each table read with the columns read from it. */
export function tablesRead(tables, columns) {
  return (tables ?? []).map((table) => {
    const read = columns?.[table] ?? [];
    return read.length ? `${table}(${read.join(", ")})` : table;
  });
}

/**
 * A dry run's answer in words: {line, warning}. `line`: "Scans about 1.2 MiB · billed 10 MiB ·
 * ≈ $0.000048 · reads sales(amount, region)"; `warning`: null when within the budget, else
 * "Over this month's remaining budget (3.0 MiB left, resets 1 Jan)".
 */
export function describeEstimate(answer) {
  const tables = tablesRead(answer.tables, answer.columns);
  const parts = [
    `Scans about ${formatBytes(answer.bytes_to_scan ?? 0)}`,
    `billed ${formatBytes(answer.billed_bytes ?? 0)}`,
    `≈ ${formatUsd(answer.estimated_cost_usd ?? 0)}`,
    tables.length ? `reads ${tables.join(", ")}` : "reads no table",
  ];
  let warning = null;
  if (answer.within_budget === false) {
    const left = answer.remaining_scan_bytes === null || answer.remaining_scan_bytes === undefined ? null : `${formatBytes(answer.remaining_scan_bytes)} left`;
    const resets = answer.resets_at ? `resets ${formatDay(answer.resets_at)}` : null;
    const said = [left, resets].filter(Boolean).join(", ");
    warning = `Over this month's remaining budget${said ? ` (${said})` : ""}`;
  }
  return { line: parts.join(" · "), warning };
}

/** A refused estimate in a few quiet words: the guard's message, or that no estimate could be made. */
export function estimateProblem(error) {
  const message = error?.message ?? String(error);
  if (error?.code === "invalid_sql" || error?.code === "forbidden_sql") return message;
  return `No estimate: ${message}`;
}
