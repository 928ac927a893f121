// Test doubles for the console's modules: a Storage, a fetch that answers from a script, an API.

export class MemoryStorage {
  constructor() {
    this.items = new Map();
  }
  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }
  setItem(key, value) {
    this.items.set(key, String(value));
  }
  removeItem(key) {
    this.items.delete(key);
  }
}

export function jsonResponse(status, body, headers = {}) {
  return new Response(body === null ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

export function apiError(status, code, message = "No.", requestId = "req-1") {
  return jsonResponse(status, { error: { code, message, request_id: requestId } });
}

/** A fetch whose answers come from `handler(method, path, init)`; every call is recorded. */
export function scriptedFetch(handler) {
  const calls = [];
  const fetch = async (url, init) => {
    const parsed = new URL(url);
    const call = { method: init.method, path: parsed.pathname, query: parsed.searchParams, init };
    calls.push(call);
    return handler(call);
  };
  return { fetch, calls };
}

/**
 * Just enough of a DOM for the console's views (`h`, `show`, listeners, attributes, text) to run
 * under Node: `installFakeDom()` sets `document` and `Node`; import the views after it (some build
 * elements when their module loads).
 */
export class FakeNode {
  constructor() {
    this.parentElement = null;
  }
  remove() {
    if (!this.parentElement) return;
    const siblings = this.parentElement.childNodes;
    siblings.splice(siblings.indexOf(this), 1);
    this.parentElement = null;
  }
  replaceWith(...nodes) {
    const parent = this.parentElement;
    const at = parent.childNodes.indexOf(this);
    this.remove();
    parent.insertAt(at, nodes);
  }
}

class FakeText extends FakeNode {
  constructor(text) {
    super();
    this.data = String(text);
  }
  get textContent() {
    return this.data;
  }
}

export class FakeElement extends FakeNode {
  constructor(tag) {
    super();
    this.tagName = tag.toUpperCase();
    this.attributes = new Map();
    this.childNodes = [];
    this.listeners = new Map();
    this.dataset = {};
    this.hidden = false;
    this.disabled = false;
    this.value = "";
    const classes = () => new Set((this.getAttribute("class") ?? "").split(/\s+/).filter(Boolean));
    this.classList = {
      add: (...names) => this.setAttribute("class", [...classes(), ...names].join(" ")),
      remove: (...names) => this.setAttribute("class", [...classes()].filter((name) => !names.includes(name)).join(" ")),
      contains: (name) => classes().has(name),
    };
  }
  setAttribute(name, value) {
    this.attributes.set(name, String(value));
  }
  getAttribute(name) {
    return this.attributes.has(name) ? this.attributes.get(name) : null;
  }
  removeAttribute(name) {
    this.attributes.delete(name);
  }
  addEventListener(type, listener) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(listener);
  }
  /** Fire `type` at this element's own listeners (no bubbling); `detail` joins the event. */
  dispatch(type, detail = {}) {
    const event = { type, target: this, defaultPrevented: false, preventDefault() { this.defaultPrevented = true; }, ...detail };
    for (const listener of this.listeners.get(type) ?? []) listener(event);
    return event;
  }
  click() {
    if (!this.disabled) this.dispatch("click");
  }
  focus() {
    globalThis.document.activeElement = this;
  }
  insertAt(index, nodes) {
    const made = nodes.map((node) => (node instanceof FakeNode ? node : new FakeText(node)));
    for (const node of made) node.remove();
    this.childNodes.splice(index, 0, ...made);
    for (const node of made) node.parentElement = this;
  }
  append(...nodes) {
    this.insertAt(this.childNodes.length, nodes);
  }
  replaceChildren(...nodes) {
    for (const node of this.childNodes) node.parentElement = null;
    this.childNodes = [];
    this.append(...nodes);
  }
  get children() {
    return this.childNodes.filter((node) => node instanceof FakeElement);
  }
  get textContent() {
    return this.childNodes.map((node) => node.textContent).join("");
  }
  set textContent(text) {
    this.replaceChildren(...(text === "" ? [] : [String(text)]));
  }
  /** Every element under this one, depth first, that `test(element)` accepts. */
  findAll(test) {
    const found = [];
    for (const child of this.children) {
      if (test(child)) found.push(child);
      found.push(...child.findAll(test));
    }
    return found;
  }
  /** The one element under this one that `test` accepts; fails when there are none or several. */
  find(test, what = "the element") {
    const found = this.findAll(test);
    if (found.length !== 1) throw new Error(`${found.length} elements for ${what}`);
    return found[0];
  }
  /** Is it shown: neither it nor a parent hidden. */
  get shown() {
    for (let node = this; node; node = node.parentElement) if (node.hidden) return false;
    return true;
  }
}

export function installFakeDom() {
  globalThis.Node = FakeNode;
  globalThis.document = { title: "", activeElement: null, createElement: (tag) => new FakeElement(tag) };
  globalThis.sessionStorage = new MemoryStorage();
}

/** Tests for FakeElement.find: by tag and accessible label, by text. */
export const byLabel = (tag, label) => (element) => element.tagName === tag.toUpperCase() && element.getAttribute("aria-label") === label;
export const byId = (id) => (element) => element.getAttribute("id") === id;
export const byText = (tag, text) => (element) => element.tagName === tag.toUpperCase() && element.textContent === text;

/** A table's body rows as the text of their cells. */
export function rowsOf(table) {
  const body = table.find((element) => element.tagName === "TBODY", "tbody");
  return body.children.map((row) => row.children.map((cell) => cell.textContent));
}

/** Let pending promise callbacks run. */
export async function settle(rounds = 20) {
  for (let i = 0; i < rounds; i += 1) await new Promise((resolve) => setImmediate(resolve));
}
