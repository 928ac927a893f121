// Saved queries, beside the Query page's editor: the tenant's list (a page at a time, newest first),
// a name loads its SQL into the editor, Run runs it as a query of its own, Delete (its author or an
// admin) asks first; analysts and admins save the editor's SQL under a name.

import { confirmAction, h, show } from "../dom.js";
import { describe } from "../errors.js";
import { formatTime } from "../format.js";
import { withFreshFirstPage, withNextPage } from "../listing.js";

export const NAME_MAX = 120;
export const DESCRIPTION_MAX = 2000;
const KEY = "saved_query_id";

/** Why these cannot be saved, in words (the API's rules: docs/api.md), or null when they can. */
export function savedQueryProblem({ name, sql, description }) {
  if (!String(sql ?? "").trim()) return "The editor is empty: write the SQL to save first.";
  const trimmed = String(name ?? "").trim();
  if (!trimmed) return "Give the query a name.";
  if (trimmed.length > NAME_MAX) return `A name is at most ${NAME_MAX} characters; this one has ${trimmed.length}.`;
  if (String(description ?? "").length > DESCRIPTION_MAX) {
    return `A description is at most ${DESCRIPTION_MAX} characters; this one has ${description.length}.`;
  }
  return null;
}

export function canSave(me) {
  return me?.role === "analyst" || me?.role === "admin";
}

export function canDelete(me, saved) {
  return me?.role === "admin" || (Boolean(me?.user_id) && saved.author_id === me.user_id);
}

/**
 * The panel. `sql()` is the editor's text now; `load(saved)` puts a saved query's SQL in the editor;
 * `run(saved)` runs it (the page shows its result); `busy()` is true while a query runs.
 * Returns {element, refresh, leave}.
 */
export function savedQueriesPanel({ api, me, notify, clearNotice, sql, load, run, busy }) {
  const list = h("ul", { class: "saved-list", "aria-label": "Saved queries" });
  const empty = h("p", { class: "empty", hidden: true }, "No saved queries yet.");
  const more = h("button", { type: "button", hidden: true }, "Show more saved queries");
  let saved = [];
  let nextToken = null;
  let left = false;

  function entry(query) {
    const actions = [
      h("button", { type: "button", "aria-label": `Run ${query.name}`, onclick: () => busy() || run(query) }, "Run"),
      canDelete(me, query) ? h("button", { type: "button", class: "danger", "aria-label": `Delete ${query.name}`, onclick: () => remove(query) }, "Delete") : null,
    ];
    const mine = query.author_id === me?.user_id;
    return h(
      "li",
      { class: "saved-query" },
      h("button", { type: "button", class: "saved-name", title: "Load into the editor", onclick: () => busy() || load(query) }, query.name),
      query.description ? h("p", { class: "saved-description" }, query.description) : null,
      h("p", { class: "saved-meta" }, [mine ? "by you" : "by another member", formatTime(query.updated_at ?? query.created_at)].filter(Boolean).join(" · ")),
      h("div", { class: "actions" }, actions),
    );
  }

  function draw() {
    show(list, saved.map(entry));
    empty.hidden = saved.length > 0;
    more.hidden = !nextToken;
  }

  /** The first page again (one was saved or deleted); pages opened beyond it stay. */
  async function refresh() {
    try {
      const page = await api.savedQueries();
      if (left) return;
      const onlyFirstPage = saved.length <= page.saved_queries.length;
      saved = withFreshFirstPage(saved, page.saved_queries, KEY);
      if (onlyFirstPage) nextToken = page.next_token ?? null;
      draw();
    } catch (error) {
      if (!left) notify(error);
    }
  }

  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      const page = await api.savedQueries(nextToken);
      if (left) return;
      saved = withNextPage(saved, page.saved_queries, KEY);
      nextToken = page.next_token ?? null;
      draw();
    } catch (error) {
      notify(error);
    } finally {
      more.disabled = false;
    }
  });

  async function remove(query) {
    if (!(await confirmAction(`Delete the saved query "${query.name}"?`, "Delete"))) return;
    clearNotice();
    try {
      await api.deleteSavedQuery(query[KEY]);
      saved = saved.filter((each) => each[KEY] !== query[KEY]);
      draw();
      refresh();
    } catch (error) {
      notify(error);
    }
  }

  const element = h(
    "aside",
    { class: "saved", "aria-labelledby": "saved-heading" },
    h("h2", { id: "saved-heading" }, "Saved queries"),
    list,
    empty,
    more,
    canSave(me)
      ? saveForm({ api, sql, saved: () => refresh() })
      : h("p", { class: "hint-text" }, "Viewers load and run saved queries; saving one takes the analyst or admin role."),
  );
  refresh();
  return {
    element,
    refresh,
    leave() {
      left = true;
    },
  };
}

/** "Save query": the editor's SQL under a name, with a description if given. */
function saveForm({ api, sql, saved }) {
  const name = h("input", { id: "saved-name", type: "text", maxlength: NAME_MAX, autocomplete: "off", "aria-describedby": "save-problem" });
  const description = h("textarea", { id: "saved-description", rows: 2, maxlength: DESCRIPTION_MAX });
  const problem = h("p", { id: "save-problem", class: "failure", hidden: true });
  const done = h("p", { class: "saved-done", "aria-live": "polite" });
  const submit = h("button", { type: "submit" }, "Save query");

  function say(message, requestId) {
    show(problem, message, requestId ? h("span", { class: "request-id" }, ` Request id: ${requestId}`) : null);
    problem.hidden = false;
    problem.setAttribute("role", "alert");
    name.setAttribute("aria-invalid", "true");
  }

  function quiet() {
    problem.hidden = true;
    problem.removeAttribute("role");
    problem.replaceChildren();
    name.removeAttribute("aria-invalid");
  }

  const form = h(
    "form",
    { class: "save-query", "aria-label": "Save query", novalidate: true },
    h("h3", {}, "Save the editor's SQL"),
    h("label", { for: "saved-name" }, "Name"),
    name,
    h("label", { for: "saved-description" }, "Description (optional)"),
    description,
    problem,
    h("div", { class: "actions" }, submit, done),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    done.textContent = "";
    const query = { name: name.value.trim(), sql: sql(), description: description.value.trim() || null };
    const wrong = savedQueryProblem(query);
    if (wrong) {
      say(wrong);
      name.focus();
      return;
    }
    quiet();
    submit.disabled = true;
    try {
      const made = await api.saveQuery(query);
      name.value = "";
      description.value = "";
      done.textContent = `Saved as "${made.name}".`;
      saved(made);
    } catch (error) {
      const { message, requestId } = describe(error);
      say(`Not saved: ${message}`, requestId);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
