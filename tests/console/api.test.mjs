import assert from "node:assert/strict";
import { test } from "node:test";

import { Api } from "../../app/js/api.js";
import { ApiError } from "../../app/js/errors.js";
import { MemoryStorage, apiError, jsonResponse, scriptedFetch } from "./fakes.mjs";

const TOKENS = { id_token: "id-1", access_token: "a", refresh_token: "refresh-1", expires_in: 3600, token_type: "Bearer" };

function signedInApi(handler, { now = () => 0 } = {}) {
  const storage = new MemoryStorage();
  storage.setItem("sdp.session", JSON.stringify({ email: "ana@example.com", refresh_token: "refresh-1" }));
  const { fetch, calls } = scriptedFetch(handler);
  const api = new Api({ baseUrl: "http://platform.test", storage, fetch, now });
  return { api, calls, storage };
}

test("sign in keeps only the refresh token in storage, and sends the ID token as a bearer header", async () => {
  const storage = new MemoryStorage();
  const { fetch, calls } = scriptedFetch(({ path }) =>
    path === "/auth/login" ? jsonResponse(200, TOKENS) : jsonResponse(200, { user_id: "u" }),
  );
  const api = new Api({ baseUrl: "http://platform.test", storage, fetch });
  await api.signIn("ana@example.com", "pw");
  await api.me();

  assert.deepEqual(JSON.parse(storage.getItem("sdp.session")), { email: "ana@example.com", refresh_token: "refresh-1" });
  assert.equal(calls[1].init.headers.Authorization, "Bearer id-1");
  assert.ok(calls.every((call) => ![...call.query.values()].some((value) => value.includes("id-1") || value.includes("refresh"))));
});

test("a reload starts from the refresh token: the first call refreshes, then goes with the new token", async () => {
  const { api, calls } = signedInApi(({ path }) =>
    path === "/auth/refresh" ? jsonResponse(200, { ...TOKENS, id_token: "id-2" }) : jsonResponse(200, { ok: 1 }),
  );
  assert.deepEqual(await api.me(), { ok: 1 });
  assert.deepEqual(calls.map((call) => call.path), ["/auth/refresh", "/me"]);
  assert.deepEqual(JSON.parse(calls[0].init.body), { refresh_token: "refresh-1" });
  assert.equal(calls[1].init.headers.Authorization, "Bearer id-2");
});

test("a 401 refreshes once and repeats the call", async () => {
  let refreshes = 0;
  let first = true;
  const { api, calls } = signedInApi(({ path }) => {
    if (path === "/auth/refresh") return jsonResponse(200, { ...TOKENS, id_token: `id-r${++refreshes}` });
    if (first) {
      first = false;
      return apiError(401, "unauthenticated");
    }
    return jsonResponse(200, { files: [] });
  });
  await api.token(false);
  assert.deepEqual(await api.files(), { files: [] });
  assert.equal(refreshes, 2);
  assert.deepEqual(calls.map((call) => call.path), ["/auth/refresh", "/files", "/auth/refresh", "/files"]);
  assert.equal(calls[3].init.headers.Authorization, "Bearer id-r2");
});

test("a second 401 ends the session: storage cleared, onSignedOut called, the error raised", async () => {
  const { api, storage } = signedInApi(({ path }) =>
    path === "/auth/refresh" ? jsonResponse(200, TOKENS) : apiError(401, "unauthenticated"),
  );
  let signedOut = 0;
  api.onSignedOut = () => (signedOut += 1);
  await assert.rejects(api.me(), (error) => error instanceof ApiError && error.status === 401);
  assert.equal(storage.getItem("sdp.session"), null);
  assert.equal(signedOut, 1);
});

test("an expired refresh token ends the session with a message saying so", async () => {
  const { api, storage } = signedInApi(() => apiError(401, "invalid_credentials", "Refresh token has expired", "req-9"));
  let signedOut = 0;
  api.onSignedOut = () => (signedOut += 1);
  await assert.rejects(api.me(), (error) => error.message === "The session has ended. Sign in again." && error.requestId === "req-9");
  assert.equal(storage.getItem("sdp.session"), null);
  assert.equal(signedOut, 1);
});

test("calls at the same time share one refresh", async () => {
  let refreshes = 0;
  const { api } = signedInApi(({ path }) => {
    if (path === "/auth/refresh") refreshes += 1;
    return path === "/auth/refresh" ? jsonResponse(200, TOKENS) : jsonResponse(200, {});
  });
  await Promise.all([api.me(), api.files(), api.queries(), api.members()]);
  assert.equal(refreshes, 1);
});

test("a token a minute from expiry is refreshed before the call", async () => {
  let clock = 0;
  let refreshes = 0;
  const { api } = signedInApi(
    ({ path }) => {
      if (path === "/auth/refresh") refreshes += 1;
      return path === "/auth/refresh" ? jsonResponse(200, { ...TOKENS, expires_in: 300 }) : jsonResponse(200, {});
    },
    { now: () => clock },
  );
  await api.me();
  clock = 200_000; // 100 s left
  await api.me();
  assert.equal(refreshes, 1);
  clock = 250_000; // 50 s left
  await api.me();
  assert.equal(refreshes, 2);
});

test("no saved session: a call answers unauthenticated without sending anything", async () => {
  const { fetch, calls } = scriptedFetch(() => jsonResponse(200, {}));
  const api = new Api({ baseUrl: "", storage: new MemoryStorage(), fetch });
  await assert.rejects(api.me(), (error) => error.status === 401 && error.code === "unauthenticated");
  assert.equal(calls.length, 0);
});

test("a connection that fails is a network_error, not a crash", async () => {
  const { api } = signedInApi(() => {
    throw new TypeError("Failed to fetch");
  });
  await assert.rejects(api.me(), (error) => error.code === "network_error" && /could not be reached/.test(error.message));
});

test("ids are escaped in paths and empty query values are left out", async () => {
  const { api, calls } = signedInApi(({ path }) => (path === "/auth/refresh" ? jsonResponse(200, TOKENS) : jsonResponse(200, {})));
  await api.deleteFile("a/b?c");
  await api.files(null);
  assert.equal(calls[1].init.method, "DELETE");
  assert.match(calls[1].path, /^\/files\/a%2Fb%3Fc$/);
  assert.deepEqual([...calls[2].query.keys()], ["limit"]);
});

test("a 204 answers null", async () => {
  const { api } = signedInApi(({ path }) => (path === "/auth/refresh" ? jsonResponse(200, TOKENS) : new Response(null, { status: 204 })));
  assert.equal(await api.deleteFile("f1"), null);
});

test("tables are read to the last page", async () => {
  const { api, calls } = signedInApi(({ path, query }) => {
    if (path === "/auth/refresh") return jsonResponse(200, TOKENS);
    return query.get("next_token")
      ? jsonResponse(200, { tables: [{ table: "b" }], next_token: null })
      : jsonResponse(200, { tables: [{ table: "a" }], next_token: "t2" });
  });
  assert.deepEqual((await api.tables()).map((table) => table.table), ["a", "b"]);
  assert.equal(calls.at(-1).query.get("next_token"), "t2");
});

test("fresh part URLs are the answer's upload: its parts and next part", async () => {
  const { api } = signedInApi(({ path }) =>
    path === "/auth/refresh"
      ? jsonResponse(200, TOKENS)
      : jsonResponse(200, { file_id: "f1", upload: { parts: [{ part_number: 2, url: "u" }], next_part: null }, expires_in: 900 }),
  );
  assert.deepEqual(await api.uploadParts("f1", 2), { parts: [{ part_number: 2, url: "u" }], next_part: null });
});

test("signing in asks for a new password when the account needs one, and a refresh after sign-out is dropped", async () => {
  const bodies = [];
  const { api } = signedInApi(({ path, init }) => {
    bodies.push(JSON.parse(init.body ?? "null"));
    return path === "/auth/login" ? jsonResponse(200, TOKENS) : jsonResponse(200, { ...TOKENS, id_token: "late" });
  });
  await api.signIn("ana@example.com", "temporary", "Chosen-Password-1!");
  assert.deepEqual(bodies[0], { email: "ana@example.com", password: "temporary", new_password: "Chosen-Password-1!" });
  api.idToken = null;
  const refreshing = api.token(true);
  api.signOut();
  await assert.rejects(refreshing, (error) => error.status === 401);
  assert.equal(api.idToken, null);
});
