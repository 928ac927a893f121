// The platform's REST API (docs/api.md) as the console calls it: tokens, refresh and errors in one place.

import { ApiError, errorFromResponse, networkError } from "./errors.js";

// Refresh this long before the ID token expires, so that no request goes out with a dying token.
const REFRESH_MARGIN_MS = 60_000;
// Only the refresh token is kept across reloads; the ID token lives in memory.
const STORAGE_KEY = "sdp.session";

export class Api {
  /**
   * @param {object} options
   * @param {string} options.baseUrl  the API's origin ("" for the console's own)
   * @param {Storage} options.storage where the session outlives a reload (localStorage)
   * @param {Function} [options.fetch]
   * @param {Function} [options.now]  milliseconds, for tests
   */
  constructor({ baseUrl, storage, fetch = globalThis.fetch.bind(globalThis), now = Date.now }) {
    this.baseUrl = baseUrl.replace(/\/$/, "");
    this.storage = storage;
    this.fetch = fetch;
    this.now = now;
    this.idToken = null;
    this.expiresAt = 0;
    this.refreshing = null;
    this.generation = 0;
    this.onSignedOut = () => {};
  }

  /** The saved session, if any: {email, refresh_token}. */
  get saved() {
    try {
      const saved = JSON.parse(this.storage.getItem(STORAGE_KEY) ?? "null");
      return saved && typeof saved.refresh_token === "string" ? saved : null;
    } catch {
      return null;
    }
  }

  get signedIn() {
    return this.saved !== null;
  }

  /** `newPassword`: for an account an admin added, whose first sign-in must choose one. */
  async signIn(email, password, newPassword) {
    const body = newPassword ? { email, password, new_password: newPassword } : { email, password };
    const tokens = await this.call("POST", "/auth/login", { body, auth: false });
    this.signOut();
    this.storage.setItem(STORAGE_KEY, JSON.stringify({ email, refresh_token: tokens.refresh_token }));
    this.keep(tokens);
  }

  signOut() {
    this.storage.removeItem(STORAGE_KEY);
    this.idToken = null;
    this.expiresAt = 0;
    this.generation += 1; // a refresh still under way belongs to the session that ended
  }

  /** The session another tab saved or ended is not this tab's: its key in storage changed. */
  isSessionKey(key) {
    return key === STORAGE_KEY || key === null;
  }

  /** A call with the caller's ID token; after a 401 the token is refreshed once and the call repeated. */
  async request(method, path, options = {}) {
    if (options.auth === false) return this.call(method, path, options);
    await this.token(false);
    try {
      return await this.call(method, path, options);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
    }
    await this.token(true);
    try {
      return await this.call(method, path, options);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) this.expire();
      throw error;
    }
  }

  /** The ID token, refreshed when it is about to expire or `force`d; one refresh for every caller. */
  async token(force) {
    if (!force && this.idToken && this.now() < this.expiresAt - REFRESH_MARGIN_MS) return this.idToken;
    const saved = this.saved;
    if (!saved) {
      this.expire();
      throw new ApiError({ status: 401, code: "unauthenticated", message: "Sign in to continue." });
    }
    const generation = this.generation;
    this.refreshing ??= this.call("POST", "/auth/refresh", { body: { refresh_token: saved.refresh_token }, auth: false })
      .then((tokens) => {
        if (generation === this.generation) this.keep(tokens);
      })
      .catch((error) => {
        if (error instanceof ApiError && error.status === 401) {
          this.expire();
          throw new ApiError({
            status: 401,
            code: error.code,
            message: "The session has ended. Sign in again.",
            requestId: error.requestId,
          });
        }
        throw error;
      })
      .finally(() => {
        this.refreshing = null;
      });
    await this.refreshing;
    if (!this.idToken) throw new ApiError({ status: 401, code: "unauthenticated", message: "Sign in to continue." });
    return this.idToken;
  }

  keep(tokens) {
    this.idToken = tokens.id_token;
    this.expiresAt = this.now() + tokens.expires_in * 1000;
  }

  expire() {
    const wasSignedIn = this.signedIn || this.idToken !== null;
    this.signOut();
    if (wasSignedIn) this.onSignedOut();
  }

  async call(method, path, { body, query, auth = true } = {}) {
    const url = new URL(this.baseUrl + path, globalThis.location?.href ?? "http://localhost/");
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, String(value));
    }
    const headers = { Accept: "application/json" };
    if (auth) headers.Authorization = `Bearer ${this.idToken}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await this.fetch(url.href, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (cause) {
      throw networkError(cause);
    }
    if (!response.ok) throw await errorFromResponse(response);
    return response.status === 204 ? null : parseJson(await response.text());
  }

  // The operations the console uses, named as in docs/api.md.
  signUp(email, password) {
    return this.call("POST", "/auth/signup", { body: { email, password }, auth: false });
  }
  confirm(email, code) {
    return this.call("POST", "/auth/confirm", { body: { email, code }, auth: false });
  }
  me() {
    return this.request("GET", "/me");
  }
  /** A page of files, newest first; `search` ({q, status, format}) narrows it, its token good for the same search only. */
  files(nextToken, search = {}) {
    return this.request("GET", "/files", { query: { limit: 100, next_token: nextToken, ...search } });
  }
  deleteFile(fileId) {
    return this.request("DELETE", `/files/${encodeURIComponent(fileId)}`);
  }
  /** `table`: the table to add the file to (made from it if new); none: a table of its own. */
  startUpload(name, size, contentType, table) {
    return this.request("POST", "/uploads", {
      body: { name, size, content_type: contentType || undefined, table: table || undefined },
    });
  }
  /** Fresh part URLs from part `from` on (up to 1,000): the answer's `upload` ({parts, next_part}). */
  async uploadParts(fileId, from) {
    const answer = await this.request("GET", `/uploads/${encodeURIComponent(fileId)}/parts`, { query: { from } });
    return answer.upload;
  }
  completeUpload(fileId, parts) {
    return this.request("POST", `/uploads/${encodeURIComponent(fileId)}/complete`, { body: { parts } });
  }
  /** Every READY table, all pages; those `search` ({q, column_type}) finds. */
  async tables(search = {}) {
    const tables = [];
    let nextToken = null;
    do {
      const page = await this.request("GET", "/tables", { query: { limit: 1000, next_token: nextToken, ...search } });
      tables.push(...page.tables);
      nextToken = page.next_token;
    } while (nextToken);
    return tables;
  }
  /** One table: its columns, counts, schema history and a page of its files (`next_token` for the next). */
  table(name, nextToken) {
    return this.request("GET", `/tables/${encodeURIComponent(name)}`, { query: { limit: 100, next_token: nextToken } });
  }
  runQuery(sql) {
    return this.request("POST", "/queries", { body: { sql } });
  }
  /** What `sql` would scan and cost, and whether the month's budget allows it; nothing runs. */
  estimateQuery(sql) {
    return this.request("POST", "/queries", { body: { sql, dry_run: true } });
  }
  query(queryId, { wait, maxRows, nextToken } = {}) {
    return this.request("GET", `/queries/${encodeURIComponent(queryId)}`, {
      query: { wait, max_rows: maxRows, next_token: nextToken },
    });
  }
  queries(nextToken) {
    return this.request("GET", "/queries", { query: { limit: 50, next_token: nextToken } });
  }
  cancelQuery(queryId) {
    return this.request("DELETE", `/queries/${encodeURIComponent(queryId)}`);
  }
  resultsCsv(queryId) {
    return this.request("GET", `/queries/${encodeURIComponent(queryId)}/results.csv`);
  }
  members() {
    return this.request("GET", "/tenant/members");
  }
  addMember(member) {
    return this.request("POST", "/tenant/members", { body: member });
  }
  changeRole(userId, role) {
    return this.request("PATCH", `/tenant/members/${encodeURIComponent(userId)}`, { body: { role } });
  }
  removeMember(userId) {
    return this.request("DELETE", `/tenant/members/${encodeURIComponent(userId)}`);
  }
  /** Storage against its quotas and this month's scanning against the budget. */
  usage() {
    return this.request("GET", "/tenant/usage");
  }
  /** Bytes the tenant's queries may scan each month; null: no budget (admins only). */
  setScanBudget(bytes) {
    return this.request("PATCH", "/tenant", { body: { monthly_scan_budget_bytes: bytes } });
  }
  /** A page of the tenant's saved queries, newest first. */
  savedQueries(nextToken) {
    return this.request("GET", "/saved-queries", { query: { limit: 20, next_token: nextToken } });
  }
  saveQuery({ name, sql, description }) {
    const body = description ? { name, sql, description } : { name, sql };
    return this.request("POST", "/saved-queries", { body });
  }
  deleteSavedQuery(savedQueryId) {
    return this.request("DELETE", `/saved-queries/${encodeURIComponent(savedQueryId)}`);
  }
  /** Runs the saved SQL: the new query's record, as runQuery's. */
  runSavedQuery(savedQueryId) {
    return this.request("POST", `/saved-queries/${encodeURIComponent(savedQueryId)}/run`);
  }
}

/**
 * JSON as the API sends it, except that an integer too large for a JavaScript number (a bigint
 * column's 9007199254740993) keeps its digits, as a string, instead of being rounded.
 */
export function parseJson(text) {
  return JSON.parse(text, (key, value, context) =>
    typeof value === "number" && !Number.isSafeInteger(value) && context?.source && /^-?\d+$/.test(context.source)
      ? context.source
      : value,
  );
}
