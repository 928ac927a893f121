// Usage (every member): storage against its quotas and this month's scanning against the budget
// (GET /tenant/usage); admins set or remove the monthly scan budget (PATCH /tenant).

import { h, show } from "../dom.js";
import { describe } from "../errors.js";
import { formatBytes, formatCount, formatDay, formatShare } from "../format.js";

export const UNITS = [
  ["MiB", 1024 ** 2],
  ["GiB", 1024 ** 3],
  ["TiB", 1024 ** 4],
];

/**
 * The budget typed (`text` of `unit`, one of UNITS' names) as bytes: {bytes} or {problem} in words.
 * A budget is a whole number of bytes, 0 or more; 0 allows no scanning at all.
 */
export function budgetBytes(text, unit) {
  const typed = String(text ?? "").trim();
  const size = UNITS.find(([name]) => name === unit)?.[1];
  if (!size) return { problem: "Choose a unit." };
  if (typed === "") return { problem: "Write a budget, e.g. 50 (GiB), or choose Remove budget for none." };
  if (!/^\d+(\.\d+)?$/.test(typed)) {
    return { problem: typed.startsWith("-") ? "A budget cannot be negative." : `"${typed}" is not a number: write digits, e.g. 50 or 2.5.` };
  }
  const bytes = Math.round(Number(typed) * size);
  if (!Number.isSafeInteger(bytes)) return { problem: "That budget is too large." };
  return { bytes };
}

const MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

/** "2026-12" as "December 2026" (as it is when it is not a month). */
export function monthName(month) {
  const parts = /^(\d{4})-(\d{2})$/.exec(month ?? "");
  const name = parts ? MONTH_NAMES[Number(parts[2]) - 1] : undefined;
  return name ? `${name} ${parts[1]}` : (month ?? "");
}

/** A meter named `label` for `value` of `max`, with what it shows in words beside it. */
function meter(label, value, max, words) {
  const id = `meter-${label.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  const bounded = max > 0 ? max : 1;
  return h(
    "div",
    { class: "usage-meter" },
    h("span", { class: "usage-label", id }, label),
    h("meter", { min: 0, max: bounded, low: bounded * 0.8, high: bounded * 0.95, optimum: 0, "aria-labelledby": id, "aria-describedby": `${id}-words`, value: Math.min(value, bounded) }),
    h("span", { class: "usage-words", id: `${id}-words` }, words),
  );
}

/** The usage answer as the page's figures. */
export function usageFigures(usage) {
  const budget = usage.monthly_scan_budget_bytes;
  return {
    storage: `${formatBytes(usage.bytes_used)} of ${formatBytes(usage.quota_bytes)} (${formatShare(usage.bytes_used, usage.quota_bytes)})`,
    files: `${formatCount(usage.file_count)} of ${formatCount(usage.quota_files)} files (${formatShare(usage.file_count, usage.quota_files)})`,
    scanned: budget === null || budget === undefined
      ? `${formatBytes(usage.bytes_scanned)} scanned; no monthly budget`
      : `${formatBytes(usage.bytes_scanned)} of ${formatBytes(budget)} (${formatShare(usage.bytes_scanned, budget)})`,
    remaining: usage.remaining_scan_bytes === null || usage.remaining_scan_bytes === undefined ? "No limit" : formatBytes(usage.remaining_scan_bytes),
    queries: formatCount(usage.query_count),
    resets: formatDay(usage.resets_at, { year: true }),
  };
}

export function usageView({ api, main, notify, clearNotice, me }) {
  const figures = h("div", { class: "usage" }, h("p", { class: "loading" }, "Loading…"));
  let left = false;

  async function load() {
    try {
      const usage = await api.usage();
      if (left) return;
      draw(usage);
    } catch (error) {
      if (left) return;
      show(figures, h("p", { class: "failure" }, `Usage could not be read: ${describe(error).message}`));
      notify(error);
    }
  }

  function draw(usage) {
    const words = usageFigures(usage);
    const budget = usage.monthly_scan_budget_bytes;
    show(
      figures,
      h(
        "section",
        { class: "usage-card", "aria-labelledby": "usage-storage" },
        h("h2", { id: "usage-storage" }, "Storage"),
        meter("Storage used", usage.bytes_used, usage.quota_bytes, words.storage),
        meter("Files stored", usage.file_count, usage.quota_files, words.files),
      ),
      h(
        "section",
        { class: "usage-card", "aria-labelledby": "usage-month" },
        h("h2", { id: "usage-month" }, `Queries in ${monthName(usage.month)}`),
        budget === null || budget === undefined
          ? h("p", {}, words.scanned)
          : meter("Scanned this month", usage.bytes_scanned, budget, words.scanned),
        h(
          "dl",
          { class: "figures" },
          h("dt", {}, "Bytes scanned"),
          h("dd", {}, formatBytes(usage.bytes_scanned)),
          h("dt", {}, "Monthly budget"),
          h("dd", {}, budget === null || budget === undefined ? "None" : formatBytes(budget)),
          h("dt", {}, "Remaining"),
          h("dd", {}, words.remaining),
          h("dt", {}, "Queries this month"),
          h("dd", {}, words.queries),
          h("dt", {}, "Resets"),
          h("dd", {}, `${words.resets} (UTC)`),
        ),
      ),
      me?.role === "admin" ? budgetForm(usage) : h("p", { class: "hint-text" }, "An admin sets the monthly scanning budget."),
    );
  }

  function budgetForm(usage) {
    const current = usage.monthly_scan_budget_bytes;
    const amount = h("input", { id: "budget-amount", type: "text", inputmode: "decimal", autocomplete: "off", "aria-describedby": "budget-problem budget-hint" });
    const unit = h("select", { id: "budget-unit" }, UNITS.map(([name]) => h("option", { value: name, selected: name === "GiB" }, name)));
    const problem = h("p", { id: "budget-problem", class: "failure", hidden: true });
    const set = h("button", { type: "submit" }, "Set budget");
    const remove = h("button", { type: "button", disabled: current === null || current === undefined }, "Remove budget");

    function say(message, requestId) {
      show(problem, message, requestId ? h("span", { class: "request-id" }, ` Request id: ${requestId}`) : null);
      problem.hidden = false;
      problem.setAttribute("role", "alert");
      amount.setAttribute("aria-invalid", "true");
    }

    async function save(bytes) {
      problem.hidden = true;
      problem.removeAttribute("role");
      amount.removeAttribute("aria-invalid");
      clearNotice();
      set.disabled = true;
      remove.disabled = true;
      try {
        await api.setScanBudget(bytes);
        if (!left) await load();
      } catch (error) {
        const { message, requestId } = describe(error);
        say(`The budget was not changed: ${message}`, requestId);
        set.disabled = false;
        remove.disabled = current === null || current === undefined;
      }
    }

    const form = h(
      "form",
      { class: "budget", "aria-labelledby": "budget-heading", novalidate: true },
      h("h2", { id: "budget-heading" }, "Monthly scan budget"),
      h(
        "p",
        { id: "budget-hint", class: "hint-text" },
        current === null || current === undefined
          ? "No budget: queries may scan any amount. With one, a query whose estimate exceeds what is left this month is refused."
          : `Now ${formatBytes(current)} a month. A query whose estimate exceeds what is left this month is refused.`,
      ),
      h(
        "div",
        { class: "budget-fields" },
        h("label", { for: "budget-amount" }, "Budget"),
        amount,
        h("label", { for: "budget-unit", class: "visually-hidden" }, "Unit"),
        unit,
        set,
        remove,
      ),
      problem,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const { bytes, problem: wrong } = budgetBytes(amount.value, unit.value);
      if (wrong) {
        say(wrong);
        amount.focus();
        return;
      }
      save(bytes);
    });
    remove.addEventListener("click", () => save(null));
    return form;
  }

  show(main, h("h1", {}, "Usage"), figures);
  load();
  return () => {
    left = true;
  };
}
