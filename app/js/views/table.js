// One table's page (#/tables/<name>): its columns and types, rows and files, each file with the
// columns it added or lacked, and which file added each column, when. Also the pieces the Tables
// list shares with it.

import { h, show } from "../dom.js";
import { describe } from "../errors.js";
import { formatCount, formatTime } from "../format.js";
import { withNextPage } from "../listing.js";
import { DRAFT_KEY, quoteIdentifier } from "../sql.js";
import { queryFailure, rowsTable, waitForQuery } from "../results.js";

const PREVIEW_ROWS = 20;

/** The address of a table's page. */
export function tableHref(name) {
  return `#/tables/${encodeURIComponent(name)}`;
}

/** "1 file", "2 files". */
export function counted(count, one, many = `${one}s`) {
  return `${formatCount(count)} ${count === 1 ? one : many}`;
}

/** A table's columns: name, type and the name in the file where it differs. */
export function columnsTable(table) {
  return h(
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
}

/**
 * Preview (the first rows, as an ordinary query) and Query (the Query page with a SELECT of the
 * table): the buttons, and the panel the preview shows in. `isLeft()` says the page is gone.
 */
export function tableActions(table, { api, notify, navigate, isLeft }) {
  const panel = h("div", { class: "preview" });
  const previewButton = h("button", { type: "button", "aria-label": `Preview ${table.table}` }, "Preview");
  previewButton.addEventListener("click", async () => {
    previewButton.disabled = true;
    const reading = h("p", { role: "status" });
    show(panel, reading);
    reading.textContent = `Reading the first ${PREVIEW_ROWS} rows…`; // filled after it is in place: announced
    try {
      const sql = `SELECT * FROM ${quoteIdentifier(table.table)} LIMIT ${PREVIEW_ROWS}`;
      const started = await api.runQuery(sql);
      const record = await waitForQuery(api, started.query_id, { stopped: isLeft });
      if (isLeft()) return; // the page is gone: nothing to show it on
      const failure = queryFailure(record);
      if (failure) throw failure;
      show(panel, rowsTable(`Preview of ${table.table}`, record.columns, record.rows).table);
    } catch (error) {
      panel.replaceChildren();
      notify(error);
    } finally {
      previewButton.disabled = false;
    }
  });
  const queryButton = h(
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
  );
  return { buttons: h("div", { class: "actions" }, previewButton, queryButton), panel };
}

/** A list of column names, or "none". */
function names(columns) {
  return columns?.length ? columns.join(", ") : h("span", { class: "none" }, "none");
}

/**
 * The table page's content from `GET /tables/{table}`'s answer and the files read so far (the
 * answer's first page and any further ones), `more` the button that reads the next page.
 */
export function tableDetail(detail, files, { more, actions }) {
  const fileNames = new Map(files.map((file) => [file.file_id, file.name]));
  // A file not among those read: deleted since, or on a page not read yet. Its id, then.
  const addedBy = (fileId) => fileNames.get(fileId) ?? h("code", { title: "A file not listed here" }, fileId);
  const filesTable = h(
    "table",
    { class: "grid", "aria-label": `Files of ${detail.table}` },
    h(
      "thead",
      {},
      h("tr", {}, ["Name", "Rows", "Added", "Columns added", "Columns missing"].map((title) => h("th", { scope: "col" }, title))),
    ),
    h(
      "tbody",
      {},
      files.map((file) =>
        h(
          "tr",
          { dataset: { fileId: file.file_id } },
          h("th", { scope: "row" }, file.name),
          h("td", { class: "number" }, formatCount(file.row_count)),
          h("td", { class: "when" }, formatTime(file.added_at)),
          h("td", {}, names(file.added_columns)),
          h("td", {}, names(file.missing_columns)),
        ),
      ),
    ),
  );
  const history = h(
    "table",
    { class: "grid", "aria-label": `Schema history of ${detail.table}` },
    h("thead", {}, h("tr", {}, ["Column", "Type", "Added by", "When"].map((title) => h("th", { scope: "col" }, title)))),
    h(
      "tbody",
      {},
      (detail.schema_history ?? []).map((entry) =>
        h(
          "tr",
          {},
          h("th", { scope: "row" }, entry.column),
          h("td", {}, entry.type),
          h("td", {}, addedBy(entry.file_id)),
          h("td", { class: "when" }, formatTime(entry.added_at)),
        ),
      ),
    ),
  );
  const shown =
    files.length < detail.file_count ? `Showing ${formatCount(files.length)} of ${counted(detail.file_count, "file")}.` : null;
  const counts = [counted(detail.row_count, "row"), counted(detail.file_count, "file"), counted(detail.columns.length, "column")];
  return [
    h("p", { class: "summary" }, counts.join(" · ")),
    actions ? [actions.buttons, actions.panel] : null,
    h("h2", {}, "Columns"),
    columnsTable(detail),
    h("h2", {}, "Files"),
    h(
      "p",
      { class: "hint-text" },
      "Oldest first. A file's rows read NULL in the columns it lacks; older rows read NULL in the columns a later file added.",
    ),
    filesTable,
    shown ? h("p", { class: "stats" }, shown) : null,
    more,
    h("h2", {}, "Schema history"),
    h("p", { class: "hint-text" }, "The columns in the order they were added, each by the first file that had it."),
    history,
  ];
}

export function tableView({ api, main, notify, navigate, name }) {
  document.title = `${name} · Tables · Serverless Data Platform`;
  const body = h("div", { class: "table-page" }, h("p", { class: "loading" }, "Loading the table…"));
  const more = h("button", { type: "button", hidden: true }, "Load more files");
  let detail = null;
  let files = [];
  let actions = null;
  let left = false;
  const isLeft = () => left;
  show(main, h("h1", { class: "table-name" }, name), body);

  function draw() {
    more.hidden = !detail.next_token;
    show(body, tableDetail(detail, files, { more, actions }));
  }

  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      const page = await api.table(name, detail.next_token);
      if (left) return;
      files = withNextPage(files, page.files, "file_id");
      detail = { ...page, files: undefined }; // the counts and history as they are now, with the next token
      draw();
      (more.hidden ? main : more).focus({ preventScroll: true }); // where the reader was, not nowhere
    } catch (error) {
      notify(error);
    } finally {
      more.disabled = false;
    }
  });

  api
    .table(name)
    .then((answer) => {
      if (left) return;
      detail = answer;
      files = answer.files;
      actions = tableActions(answer, { api, notify, navigate, isLeft });
      draw();
    })
    .catch((error) => {
      if (left) return;
      const { message, code, requestId } = describe(error);
      if (code !== "table_not_found") notify(error);
      const missing = code === "table_not_found";
      body.replaceWith(
        h(
          "div",
          { class: "refusal" },
          h("p", {}, missing ? message : `The table could not be read: ${message}`),
          missing
            ? h("p", {}, "Tables lists the tables you have. A table goes with its last file, and shows once its first file is READY.")
            : null,
          requestId ? h("p", { class: "request-id" }, `Request id: ${requestId}`) : null,
        ),
      );
    });
  return () => {
    left = true;
  };
}
