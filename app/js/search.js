// Naming a table and searching the lists: the API's rules, checked in the page before anything is sent.

// docs/api.md "Tables of many files": 1–120 characters of a-z, 0-9 and _, no leading digit, not only underscores.
const TABLE_NAME = /^[a-z_][a-z0-9_]{0,119}$/;
// A search parameter is 1–255 characters without control characters (else 400 invalid_request).
const SEARCH_MAX = 255;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]+/g;
export const SEARCH_DELAY_MS = 300;

/**
 * Why `name` cannot name a table, in words, or null when it can. An empty name is allowed: the
 * file gets a table of its own.
 */
export function tableNameProblem(name) {
  if (name === "" || (TABLE_NAME.test(name) && /[^_]/.test(name))) return null;
  const rule = "A table name is 1 to 120 characters of a-z, 0-9 and _, not starting with a digit.";
  if (name.length > 120) return `${rule} This one has ${name.length} characters.`;
  if (/^[0-9]/.test(name)) return `${rule} This one starts with a digit.`;
  if (/^_+$/.test(name)) return `${rule} It cannot be only underscores.`;
  const lower = name.toLowerCase();
  if (lower !== name && tableNameProblem(lower) === null) return `${rule} Write it in lower case: ${lower}.`;
  const others = [...new Set(name.replace(/[a-z0-9_]/g, ""))];
  const words = [
    others.some((c) => /[A-Z]/.test(c)) ? "capital letters" : null,
    others.some((c) => /\s/.test(c)) ? "spaces" : null,
    ...others.filter((c) => !/[A-Z]|\s/.test(c)).map((c) => `"${c}"`),
  ].filter(Boolean);
  return `${rule} Not allowed: ${words.join(", ")}.`;
}

/** The name an upload sends as `table`: what was typed, without surrounding blanks; null for none. */
export function tableChoice(typed) {
  const name = (typed ?? "").trim();
  return name === "" ? null : name;
}

/**
 * A search as the API takes it: each parameter trimmed, without control characters, at most 255
 * characters; empty ones left out. `{}` is no search: the plain listing.
 */
export function searchParams(fields) {
  const params = {};
  for (const [name, value] of Object.entries(fields ?? {})) {
    const cleaned = String(value ?? "").replace(CONTROL, " ").trim().slice(0, SEARCH_MAX).trim();
    if (cleaned !== "") params[name] = cleaned;
  }
  return params;
}

export function sameSearch(a, b) {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((key) => a[key] === b[key]);
}

export function isSearching(params) {
  return Object.keys(params).length > 0;
}

/** `action` called once typing has paused `delay` ms; `.now()` runs it at once, `.cancel()` drops it. */
export function debounce(action, delay = SEARCH_DELAY_MS, clock = globalThis) {
  let timer = null;
  const debounced = () => {
    clock.clearTimeout(timer);
    timer = clock.setTimeout(() => {
      timer = null;
      action();
    }, delay);
  };
  debounced.now = () => {
    clock.clearTimeout(timer);
    timer = null;
    action();
  };
  debounced.cancel = () => {
    clock.clearTimeout(timer);
    timer = null;
  };
  return debounced;
}
