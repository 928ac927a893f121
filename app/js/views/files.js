// Files: upload by picker or drop, into a table of the file's own or one named, each with progress
// and Cancel; the list (or a search of it) refreshes itself while files are on their way to READY or
// FAILED; delete asks first.

import { confirmAction, h, show } from "../dom.js";
import { describe } from "../errors.js";
import { formatBytes, formatCount, formatRate, formatTime } from "../format.js";
import { filledPage, withFreshFirstPage, withNextPage } from "../listing.js";
import { debounce, isSearching, sameSearch, searchParams, tableChoice, tableNameProblem } from "../search.js";
import { Upload } from "../upload.js";
import { counted, tableHref } from "./table.js";

const POLL_MS = 1500;
const STATUSES = ["UPLOADING", "PROCESSING", "READY", "FAILED"];
const FORMATS = ["csv", "tsv", "jsonl", "parquet"];
// The table names offered under "Add to table" are read again on focus, at most this often.
const NAMES_MS = 5000;

// Uploads outlive the Files page (they go on while you look at a table) and are shown again on
// return; signing out cancels them.
const uploads = h("ul", { class: "uploads", "aria-label": "Uploads" });
const running = new Set();
// Files this browser sent whose record may still say UPLOADING until storage tells the platform.
const sentHere = new Set();

export function uploading() {
  return running.size > 0;
}

export function cancelUploads() {
  for (const upload of running) upload.cancel();
  uploads.replaceChildren();
}

export function filesView({ api, main, notify, me }) {
  const canUpload = me.role !== "viewer";
  const body = h("tbody");
  const more = h("button", { type: "button", hidden: true }, "Show more files");
  const empty = h("p", { class: "empty", hidden: true });
  const found = h("p", { class: "found", role: "status" });
  let files = [];
  let nextToken = null;
  let timer = null;
  let left = false;
  let search = {}; // {q, status, format}: none, the plain listing
  let version = 0; // each search's number: pages of an earlier search are dropped
  // Pages of the search now under way (its tokens are good for it only).
  const reader = (params = search) => (token) => api.files(token, params);

  async function refresh() {
    clearTimeout(timer);
    const asked = version;
    try {
      const page = await filledPage(reader(), null, "files");
      if (left || asked !== version) return;
      const onlyFirstPage = files.length <= page.entries.length;
      files = withFreshFirstPage(files, page.entries, "file_id");
      if (onlyFirstPage) nextToken = page.next_token;
      draw();
    } catch (error) {
      if (left || asked !== version) return;
      notify(error);
    }
    schedule();
  }

  function searchChanged() {
    const next = searchParams({ q: searchBox.value, status: statusChoice.value, format: formatChoice.value });
    if (sameSearch(next, search)) return;
    search = next;
    version += 1;
    files = [];
    nextToken = null;
    body.parentElement.setAttribute("aria-busy", "true");
    refresh();
  }

  /** Ask again while a file is being read, or one sent from here has not reached the platform yet;
   * another member's upload that nobody finishes is not waited for. */
  function schedule() {
    clearTimeout(timer);
    const waiting = files.some(
      (file) => file.status === "PROCESSING" || (file.status === "UPLOADING" && sentHere.has(file.file_id)),
    );
    if (!left && (waiting || running.size > 0)) timer = setTimeout(refresh, POLL_MS);
  }

  async function loadMore() {
    more.disabled = true;
    const asked = version;
    try {
      const page = await filledPage(reader(), nextToken, "files");
      if (left || asked !== version) return;
      files = withNextPage(files, page.entries, "file_id");
      nextToken = page.next_token;
      draw();
    } catch (error) {
      if (!left && asked === version) notify(error);
    } finally {
      more.disabled = false;
    }
  }

  function mayDelete(file) {
    return me.role === "admin" || (me.role === "analyst" && file.owner_id === me.user_id);
  }

  async function remove(file) {
    if (!(await confirmAction(`Delete ${file.name}? Its table and stored bytes go too.`, "Delete"))) return;
    try {
      await api.deleteFile(file.file_id);
      files = files.filter((other) => other.file_id !== file.file_id);
      draw();
      main.focus(); // the row and its button are gone: focus goes back to the page, not to nowhere
    } catch (error) {
      notify(error);
    }
  }

  function row(file) {
    return h(
      "tr",
      { dataset: { fileId: file.file_id } },
      h("th", { scope: "row" }, file.name),
      h("td", {}, h("span", { class: `status status-${file.status.toLowerCase()}` }, file.status)),
      h("td", { class: "number" }, formatBytes(file.size)),
      h("td", { class: "number" }, formatCount(file.row_count)),
      h("td", {}, outcome(file)),
      h("td", {}, formatTime(file.created_at)),
      h(
        "td",
        {},
        mayDelete(file)
          ? h("button", { type: "button", class: "danger", "aria-label": `Delete ${file.name}`, onclick: () => remove(file) }, "Delete")
          : null,
      ),
    );
  }

  function draw() {
    const searching = isSearching(search);
    show(body, files.map(row));
    body.parentElement.removeAttribute("aria-busy");
    empty.textContent = searching
      ? "No files match this search."
      : canUpload
        ? "No files yet: upload one above."
        : "No files yet.";
    empty.hidden = files.length > 0;
    more.hidden = !nextToken;
    found.textContent = searching && files.length ? `${counted(files.length, "file")} found${nextToken ? " so far" : ""}` : "";
  }

  // "Add to table": empty, each file gets a table of its own; a name, the files are added to that
  // table (made from the first if new). The API's rule is checked here before anything is sent.
  const tableNames = h("datalist", { id: "table-names" });
  const tableInput = h("input", {
    type: "text",
    id: "add-to-table",
    list: "table-names",
    autocomplete: "off",
    spellcheck: "false",
    maxlength: 200,
    placeholder: "a table of its own",
    "aria-describedby": "add-to-table-hint",
  });
  const tableHint = h("span", { id: "add-to-table-hint", class: "hint-text" }, "Empty: each file becomes a table of its own.");
  const tableProblem = h("p", { id: "add-to-table-problem", class: "failure", hidden: true });
  let namesReadAt = 0;

  async function offerTableNames() {
    if (Date.now() - namesReadAt < NAMES_MS) return;
    namesReadAt = Date.now();
    try {
      const tables = await api.tables();
      if (!left) show(tableNames, tables.map((table) => h("option", { value: table.table })));
    } catch {
      namesReadAt = 0; // only suggestions: the next focus tries again
    }
  }

  /** The name typed, checked: shows why it is refused (as an alert when `insist`), or clears that. */
  function checkTableName(insist) {
    const problem = tableNameProblem(tableInput.value.trim());
    tableProblem.hidden = !problem;
    tableProblem.textContent = problem ?? "";
    if (problem && insist) tableProblem.setAttribute("role", "alert");
    else tableProblem.removeAttribute("role");
    if (problem) {
      tableInput.setAttribute("aria-invalid", "true");
      tableInput.setAttribute("aria-describedby", "add-to-table-problem");
    } else {
      tableInput.removeAttribute("aria-invalid");
      tableInput.setAttribute("aria-describedby", "add-to-table-hint");
    }
    const table = problem ? null : tableChoice(tableInput.value);
    tableHint.textContent = table
      ? `Each file is added to the table ${table}; a new name makes the table from the first file.`
      : "Empty: each file becomes a table of its own.";
    tableHint.hidden = Boolean(problem);
    return !problem;
  }
  tableInput.addEventListener("input", () => checkTableName(false)); // said as it is typed, without interrupting
  tableInput.addEventListener("focus", offerTableNames);

  function start(list) {
    if (!list.length) return;
    if (!checkTableName(true)) {
      tableInput.focus(); // nothing is sent: the name is to correct first
      return;
    }
    const table = tableChoice(tableInput.value);
    for (const file of list) {
      const shown = uploadItem(file, table);
      const upload = new Upload(api, file, { table, onChange: () => shown.update(upload) });
      shown.cancel.addEventListener("click", () => upload.cancel());
      uploads.append(shown.item);
      running.add(upload);
      schedule();
      upload
        .run()
        .then((record) => {
          if (record) sentHere.add(record.file_id);
          // Done or cancelled: the line goes; failed: it stays, saying why, until dismissed.
          setTimeout(() => shown.item.remove(), upload.state === "done" ? 1500 : 0);
        })
        .catch((error) => shown.fail(error))
        .finally(() => {
          running.delete(upload);
          refresh();
        });
    }
  }

  const picker = h("input", {
    type: "file",
    multiple: true,
    id: "upload-files",
    onchange: (event) => {
      start([...event.target.files]);
      event.target.value = "";
    },
  });
  const dropZone = h(
    "div",
    { class: "drop-zone" },
    h(
      "div",
      { class: "drop-line" },
      h("label", { for: "upload-files" }, "Upload files"),
      picker,
      h("p", {}, "or drop files here. CSV, TSV, JSON Lines or Parquet, optionally gzip-compressed."),
    ),
    h("div", { class: "drop-line" }, h("label", { for: "add-to-table" }, "Add to table"), tableInput, tableNames, tableHint),
    tableProblem,
  );
  for (const type of ["dragenter", "dragover"]) {
    dropZone.addEventListener(type, (event) => {
      event.preventDefault();
      dropZone.classList.add("dragging");
    });
  }
  dropZone.addEventListener("dragleave", () => dropZone.classList.remove("dragging"));
  dropZone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropZone.classList.remove("dragging");
    start([...event.dataTransfer.files]);
  });
  more.addEventListener("click", loadMore);

  const searchBox = h("input", {
    type: "search",
    id: "search-files",
    maxlength: 255,
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "Part of a file's, table's or column's name",
  });
  const choice = (id, any, values) =>
    h("select", { id }, h("option", { value: "" }, any), values.map((value) => h("option", { value }, value)));
  const statusChoice = choice("search-status", "Any status", STATUSES);
  const formatChoice = choice("search-format", "Any format", FORMATS);
  const typed = debounce(searchChanged);
  searchBox.addEventListener("input", typed);
  statusChoice.addEventListener("change", typed.now);
  formatChoice.addEventListener("change", typed.now);
  const searchForm = h(
    "form",
    { role: "search", class: "search", onsubmit: (event) => (event.preventDefault(), typed.now()) },
    h("label", { for: "search-files" }, "Search files"),
    searchBox,
    h("label", { for: "search-status" }, "Status"),
    statusChoice,
    h("label", { for: "search-format" }, "Format"),
    formatChoice,
    found,
  );

  show(
    main,
    h("h1", {}, "Files"),
    canUpload ? dropZone : null,
    uploads,
    searchForm,
    h(
      "table",
      { class: "grid files" },
      h("caption", {}, "Files"),
      h(
        "thead",
        {},
        h("tr", {}, ["Name", "Status", "Size", "Rows", "Table or error", "Uploaded", h("span", { class: "visually-hidden" }, "Actions")].map((title) => h("th", { scope: "col" }, title))),
      ),
      body,
    ),
    empty,
    more,
  );
  refresh();
  return () => {
    left = true;
    clearTimeout(timer);
    typed.cancel();
  };
}

/** The "Table or error" cell: the error of a FAILED file; the table of a READY one (a link to its page)
 * with the columns it added to or lacked from it; the table an upload named while on its way. */
export function outcome(file) {
  if (file.status === "FAILED" && file.error) return h("span", { class: "failure" }, `${file.error.code}: ${file.error.message}`);
  if (file.table) return [h("a", { href: tableHref(file.table) }, file.table), driftNote(file)];
  if (file.target_table) return h("span", { class: "target" }, `into ${file.target_table}`);
  return "";
}

/** What a READY file changed in its table: columns it added, columns it lacks (NULL for its rows).
 * Nothing for the file that made the table (it added all its columns, and lacks none). */
export function driftNote(file) {
  const added = file.drift?.added_columns ?? [];
  const missing = file.drift?.missing_columns ?? [];
  const madeTable = missing.length === 0 && added.length > 0 && added.length === (file.columns?.length ?? -1);
  if (madeTable || (added.length === 0 && missing.length === 0)) return null;
  return h(
    "span",
    { class: "drift" },
    [added.length ? `added ${added.join(", ")}` : null, missing.length ? `lacks ${missing.join(", ")}` : null]
      .filter(Boolean)
      .join("; "),
  );
}

/** One upload's line: its name, a bar, bytes and rate, and Cancel; updated in place so focus stays put. */
function uploadItem(file, table) {
  const bar = h("progress", { max: file.size || 1, value: 0, "aria-label": `Uploading ${file.name}` });
  const state = h("span", { class: "upload-state" }, "Starting…");
  const cancel = h("button", { type: "button", "aria-label": `Cancel upload of ${file.name}` }, "Cancel");
  const name = h(
    "span",
    { class: "upload-name", title: table ? `${file.name} into ${table}` : file.name },
    file.name,
    table ? h("span", { class: "target" }, ` into ${table}`) : null,
  );
  const item = h("li", { class: "upload" }, name, bar, state, cancel);
  function update(upload) {
    const sent = Math.min(upload.progress.sent, file.size);
    bar.value = sent;
    state.textContent = {
      starting: "Starting…",
      sending: `${formatBytes(sent)} of ${formatBytes(file.size)} · ${formatRate(upload.progress.rate)}`,
      completing: "Putting the parts together…",
      done: "Stored; the platform is reading it.",
      failed: "Failed.",
      cancelled: "Cancelled.",
    }[upload.state];
    cancel.hidden = !["starting", "sending"].includes(upload.state);
  }
  /** The upload failed: say why on its own line, which stays until dismissed. */
  function fail(error) {
    const { message, requestId } = describe(error);
    state.textContent = `Not uploaded: ${message}${requestId ? ` (request id ${requestId})` : ""}`;
    state.setAttribute("role", "alert");
    state.classList.add("failure");
    const dismiss = h("button", { type: "button", "aria-label": `Dismiss ${file.name}`, onclick: () => item.remove() }, "Dismiss");
    cancel.replaceWith(dismiss);
  }
  return { item, cancel, update, fail };
}
