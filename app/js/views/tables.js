// Tables: every READY table with its columns, types and rows, and a preview of its first rows.

import { h, show } from "../dom.js";
import { formatCount } from "../format.js";
import { DRAFT_KEY, quoteIdentifier } from "../sql.js";
import { queryFailure, rowsTable, waitForQuery } from "../results.js";

const PREVIEW_ROWS = 20;

export function tablesView({ api, main, notify, navigate }) {
  const list = h("div", { class: "tables" }, h("p", { class: "loading" }, "Loading tables…"));
  let left = false;
  show(main, h("h1", {}, "Tables"), list);

  async function preview(table, panel, button) {
    button.disabled = true;
    const reading = h("p", { role: "status" });
    show(panel, reading);
    reading.textContent = `Reading the first ${PREVIEW_ROWS} rows…`; // filled after it is in place: announced
    try {
      const sql = `SELECT * FROM ${quoteIdentifier(table.table)} LIMIT ${PREVIEW_ROWS}`;
      const started = await api.runQuery(sql);
      const record = await waitForQuery(api, started.query_id, { stopped: () => left });
      if (left) return; // the page is gone: nothing to show it on
      const failure = queryFailure(record);
      if (failure) throw failure;
      show(panel, rowsTable(`Preview of ${table.table}`, record.columns, record.rows).table);
    } catch (error) {
      panel.replaceChildren();
      notify(error);
    } finally {
      button.disabled = false;
    }
  }

  function card(table) {
    const panel = h("div", { class: "preview" });
    const previewButton = h("button", { type: "button", "aria-label": `Preview ${table.table}` }, "Preview");
    previewButton.addEventListener("click", () => preview(table, panel, previewButton));
    const columns = h(
      "table",
      { class: "grid columns", "aria-label": `Columns of ${table.table}` },
      h("thead", {}, h("tr", {}, ["Column", "Type", "Original name"].map((title) => h("th", { scope: "col" }, title)))),
      h(
        "tbody",
        {},
        table.columns.map((column) =>
          h("tr", {}, h("th", { scope: "row" }, column.name), h("td", {}, column.type), h("td", {}, column.original_name ?? "")),
        ),
      ),
    );
    return h(
      "section",
      { class: "table-card", "aria-label": table.table },
      h("h2", {}, table.table),
      h("p", {}, `${formatCount(table.row_count)} rows · ${table.columns.length} columns`),
      columns,
      h(
        "div",
        { class: "actions" },
        previewButton,
        h(
          "button",
          {
            type: "button",
            "aria-label": `Query ${table.table}`,
            onclick: () => {
              sessionStorage.setItem(DRAFT_KEY, `SELECT *\nFROM ${quoteIdentifier(table.table)}\nLIMIT 100`);
              navigate("query");
            },
          },
          "Query",
        ),
      ),
      panel,
    );
  }

  api
    .tables()
    .then((tables) => {
      if (left) return;
      show(list, tables.length ? tables.map(card) : h("p", { class: "empty" }, "No tables yet: a file becomes a table when it is READY."));
    })
    .catch((error) => {
      list.replaceChildren();
      notify(error);
    });
  return () => {
    left = true;
  };
}
