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
