// Tables: every READY table with its columns, types, rows and files, a preview of its first rows,
// a search, and a link to each table's own page (#/tables/<name>, views/table.js).

import { h, show } from "../dom.js";
import { debounce, isSearching, sameSearch, searchParams } from "../search.js";
import { columnsTable, counted, tableActions, tableHref, tableView } from "./table.js";

export function tablesView(context) {
  if (context.params?.length) return tableView({ ...context, name: context.params[0] });
  const { api, main, notify, navigate } = context;
  const list = h("div", { class: "tables" }, h("p", { class: "loading" }, "Loading tables…"));
  const found = h("p", { class: "found", role: "status" });
  const searchBox = h("input", {
    type: "search",
    id: "search-tables",
    maxlength: 255,
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "Part of a table's or column's name",
  });
  const columnType = h("select", { id: "search-column-type" }, h("option", { value: "" }, "Any type"));
  let search = {};
  let version = 0; // each search's number: an answer to an earlier one is dropped
  let left = false;
  const isLeft = () => left;

  function card(table) {
    const { buttons, panel } = tableActions(table, { api, notify, navigate, isLeft });
    return h(
      "section",
      { class: "table-card", "aria-label": table.table },
      h("h2", {}, h("a", { href: tableHref(table.table) }, table.table)),
      h(
        "p",
        {},
        [
          counted(table.row_count, "row"),
          counted(table.file_count ?? 1, "file"),
          counted(table.columns.length, "column"),
        ].join(" · "),
      ),
      columnsTable(table),
      buttons,
      panel,
    );
  }

  /** The types a column type can be searched by: those the tenant's tables have. */
  function offerTypes(tables) {
    const types = [...new Set(tables.flatMap((table) => table.columns.map((column) => column.type)))].sort();
    const chosen = columnType.value;
    show(
      columnType,
      h("option", { value: "" }, "Any type"),
      types.map((type) => h("option", { value: type, selected: type === chosen }, type)),
    );
  }

  async function load() {
    const asked = ++version;
    const searching = isSearching(search);
    list.setAttribute("aria-busy", "true");
    try {
      const tables = await api.tables(search);
      if (left || asked !== version) return;
      if (!searching) offerTypes(tables);
      const none = searching
        ? "No table matches this search."
        : "No tables yet: a file becomes a table when it is READY.";
      show(list, tables.length ? tables.map(card) : h("p", { class: "empty" }, none));
      found.textContent = searching && tables.length ? `${counted(tables.length, "table")} found` : "";
    } catch (error) {
      if (left || asked !== version) return;
      list.replaceChildren();
      found.textContent = "";
      notify(error);
    } finally {
      if (asked === version) list.removeAttribute("aria-busy");
    }
  }

  function searchChanged() {
    const next = searchParams({ q: searchBox.value, column_type: columnType.value });
    if (sameSearch(next, search)) return;
    search = next;
    load();
  }
  const typed = debounce(searchChanged);
  searchBox.addEventListener("input", typed);
  columnType.addEventListener("change", typed.now);
  const form = h(
    "form",
    { role: "search", class: "search", onsubmit: (event) => (event.preventDefault(), typed.now()) },
    h("label", { for: "search-tables" }, "Search tables"),
    searchBox,
    h("label", { for: "search-column-type" }, "Column type"),
    columnType,
    found,
  );

  show(main, h("h1", {}, "Tables"), form, list);
  load();
  return () => {
    left = true;
    typed.cancel();
  };
}
