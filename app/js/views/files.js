// Files: upload by picker or drop, each with progress and Cancel; the list refreshes itself while
// files are on their way to READY or FAILED; delete asks first.

import { confirmAction, h, show } from "../dom.js";
import { describe } from "../errors.js";
import { formatBytes, formatCount, formatRate, formatTime } from "../format.js";
import { withFreshFirstPage, withNextPage } from "../listing.js";
import { Upload } from "../upload.js";

const POLL_MS = 1500;

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
  const empty = h("p", { class: "empty", hidden: true }, canUpload ? "No files yet: upload one above." : "No files yet.");
  let files = [];
  let nextToken = null;
  let timer = null;
  let left = false;

  async function refresh() {
    clearTimeout(timer);
    try {
      const page = await api.files();
      if (left) return;
      const onlyFirstPage = files.length <= page.files.length;
      files = withFreshFirstPage(files, page.files, "file_id");
      if (onlyFirstPage) nextToken = page.next_token;
      draw();
    } catch (error) {
      notify(error);
    }
    schedule();
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
    try {
      const page = await api.files(nextToken);
      files = withNextPage(files, page.files, "file_id");
      nextToken = page.next_token;
      draw();
    } catch (error) {
      notify(error);
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
    const outcome =
      file.status === "FAILED" && file.error
        ? h("span", { class: "failure" }, `${file.error.code}: ${file.error.message}`)
        : file.table ?? "";
    return h(
      "tr",
      { dataset: { fileId: file.file_id } },
      h("th", { scope: "row" }, file.name),
      h("td", {}, h("span", { class: `status status-${file.status.toLowerCase()}` }, file.status)),
      h("td", { class: "number" }, formatBytes(file.size)),
      h("td", { class: "number" }, formatCount(file.row_count)),
      h("td", {}, outcome),
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
    show(body, files.map(row));
    empty.hidden = files.length > 0;
    more.hidden = !nextToken;
  }

  function start(list) {
    for (const file of list) {
      const shown = uploadItem(file);
      const upload = new Upload(api, file, { onChange: () => shown.update(upload) });
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
    h("label", { for: "upload-files" }, "Upload files"),
    picker,
    h("p", {}, "or drop files here. CSV, TSV, JSON Lines or Parquet, optionally gzip-compressed."),
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

  show(
    main,
    h("h1", {}, "Files"),
    canUpload ? dropZone : null,
    uploads,
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
  };
}

/** One upload's line: its name, a bar, bytes and rate, and Cancel; updated in place so focus stays put. */
function uploadItem(file) {
  const bar = h("progress", { max: file.size || 1, value: 0, "aria-label": `Uploading ${file.name}` });
  const state = h("span", { class: "upload-state" }, "Starting…");
  const cancel = h("button", { type: "button", "aria-label": `Cancel upload of ${file.name}` }, "Cancel");
  const item = h("li", { class: "upload" }, h("span", { class: "upload-name" }, file.name), bar, state, cancel);
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
