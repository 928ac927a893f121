// Elements built from data, never from HTML strings: nothing a file name or an error says can run.

/**
 * h("button", {type: "button", onclick: f, "aria-label": "Delete"}, "Delete")
 * Properties starting with "on" are listeners; `dataset`/`hidden`/`disabled`/`value`/`checked` are set
 * as properties; the rest as attributes. Children are nodes, strings or arrays of them; null is skipped.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (["hidden", "disabled", "value", "checked", "selected", "open"].includes(name)) element[name] = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : String(child));
  }
}

/** Replace what `parent` holds. */
export function show(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
}

/**
 * Ask before something that cannot be undone, in a modal dialog (focus stays in it; Escape keeps).
 * Resolves true when `confirmLabel` is chosen.
 */
export function confirmAction(question, confirmLabel) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-label": question },
      h("p", {}, question),
      h(
        "form",
        { method: "dialog" },
        h("button", { value: "cancel", type: "submit" }, "Keep"),
        h("button", { value: "confirm", type: "submit", class: "danger" }, confirmLabel),
      ),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "confirm");
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
