import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError } from "../../app/js/errors.js";
import { PART_ATTEMPTS, Progress, Upload, partRange, storageError } from "../../app/js/upload.js";

const MIB = 1024 * 1024;

/** A file of `size` bytes whose slices remember where they came from. */
function fakeFile(name, size) {
  return { name, size, type: "text/csv", slice: (start, end) => ({ start, end }) };
}

/** The API calls an upload makes, answered as the platform would; records what it was asked. */
function fakeApi({ upload, pages = {}, complete } = {}) {
  const asked = [];
  return {
    asked,
    startUpload: async (name, size, type) => (asked.push(["start", name, size, type]), { file_id: "f1", upload }),
    uploadParts: async (fileId, from) => (asked.push(["parts", fileId, from]), pages[from]),
    completeUpload: async (fileId, parts) => (asked.push(["complete", fileId, parts]), complete ?? { file_id: fileId, status: "PROCESSING" }),
    deleteFile: async (fileId) => (asked.push(["delete", fileId]), null),
  };
}

function multipart(partSize, count, { from = 1, nextPart = null } = {}) {
  const parts = Array.from({ length: count }, (_, index) => ({ part_number: from + index, url: `https://s3.test/p${from + index}` }));
  return { method: "MULTIPART", upload_id: "u1", part_size: partSize, parts, next_part: nextPart };
}

test("parts cover the file exactly: every one part_size but the last", () => {
  assert.deepEqual(partRange(1, 16 * MIB, 40 * MIB), { start: 0, end: 16 * MIB });
  assert.deepEqual(partRange(3, 16 * MIB, 40 * MIB), { start: 32 * MIB, end: 40 * MIB });
});

test("a presigned POST sends the fields first and the file last, and reports the bytes sent", async () => {
  const api = fakeApi({ upload: { method: "POST", url: "https://s3.test/bucket", fields: { key: "k", policy: "p" } } });
  const sent = [];
  const send = async (request) => {
    sent.push(request);
    request.onProgress(5);
    return { status: 204, etag: null, text: "" };
  };
  const upload = new Upload(api, new File(["a,b\n1,2\n"], "small.csv", { type: "text/csv" }), { send });
  const record = await upload.run();

  assert.equal(record.file_id, "f1");
  assert.equal(upload.state, "done");
  assert.deepEqual(api.asked[0], ["start", "small.csv", 8, "text/csv"]);
  assert.equal(sent[0].method, "POST");
  assert.deepEqual([...sent[0].body.keys()], ["key", "policy", "file"]);
  assert.equal(upload.progress.sent, 5);
});

test("a refused POST (S3's XML error) fails the upload with S3's code and message", async () => {
  const api = fakeApi({ upload: { method: "POST", url: "https://s3.test/bucket", fields: {} } });
  const text = "<Error><Code>EntityTooLarge</Code><Message>Your proposed upload exceeds the maximum allowed size</Message></Error>";
  const upload = new Upload(api, new File(["x"], "big.csv"), { send: async () => ({ status: 400, etag: null, text }) });
  await assert.rejects(upload.run(), /EntityTooLarge.*maximum allowed size/);
  assert.equal(upload.state, "failed");
});

test("multipart: every part sent once, at most `concurrency` at a time, completed with ETags in order", async () => {
  const api = fakeApi({ upload: multipart(16 * MIB, 5) });
  let inFlight = 0;
  let most = 0;
  const ranges = [];
  const send = async ({ url, body }) => {
    inFlight += 1;
    most = Math.max(most, inFlight);
    ranges.push([url, body.start, body.end]);
    await new Promise((resolve) => setTimeout(resolve, 5 * (6 - Number(url.slice(-1)))));
    inFlight -= 1;
    return { status: 200, etag: `"e${url.slice(-1)}"`, text: "" };
  };
  const upload = new Upload(api, fakeFile("big.csv", 70 * MIB), { send, concurrency: 3 });
  await upload.run();

  assert.equal(most, 3);
  assert.equal(ranges.length, 5);
  assert.deepEqual(ranges.find(([url]) => url.endsWith("p5")).slice(1), [64 * MIB, 70 * MIB]);
  const [, , parts] = api.asked.find(([call]) => call === "complete");
  assert.deepEqual(parts, [1, 2, 3, 4, 5].map((n) => ({ part_number: n, etag: `"e${n}"` })));
});

test("multipart beyond the first page of URLs asks for the next page and sends those parts too", async () => {
  const api = fakeApi({
    upload: multipart(16 * MIB, 2, { nextPart: 3 }),
    pages: { 3: multipart(16 * MIB, 1, { from: 3 }) },
  });
  const send = async ({ url }) => ({ status: 200, etag: `"${url.slice(-2)}"`, text: "" });
  await new Upload(api, fakeFile("big.csv", 40 * MIB), { send }).run();
  const [, , parts] = api.asked.find(([call]) => call === "complete");
  assert.deepEqual(parts.map((part) => part.part_number), [1, 2, 3]);
  assert.deepEqual(api.asked.find(([call]) => call === "parts"), ["parts", "f1", 3]);
});

test("a part whose connection breaks is sent again, up to PART_ATTEMPTS times", async () => {
  const api = fakeApi({ upload: multipart(16 * MIB, 1) });
  let attempts = 0;
  const send = async () => {
    attempts += 1;
    if (attempts < PART_ATTEMPTS) throw new ApiError({ code: "network_error", message: "reset" });
    return { status: 200, etag: '"e"', text: "" };
  };
  await new Upload(api, fakeFile("big.csv", MIB), { send }).run();
  assert.equal(attempts, PART_ATTEMPTS);

  let failures = 0;
  const broken = async () => {
    failures += 1;
    throw new ApiError({ code: "network_error", message: "reset" });
  };
  await assert.rejects(new Upload(fakeApi({ upload: multipart(16 * MIB, 1) }), fakeFile("b.csv", MIB), { send: broken }).run(), /reset/);
  assert.equal(failures, PART_ATTEMPTS);
});

test("an expired part URL (403) is renewed once through GET /uploads/{id}/parts?from=n", async () => {
  const api = fakeApi({ upload: multipart(16 * MIB, 2), pages: { 2: multipart(16 * MIB, 1, { from: 2 }) } });
  api.pages = null;
  const renewed = { ...multipart(16 * MIB, 1, { from: 2 }) };
  renewed.parts[0].url = "https://s3.test/fresh2";
  api.uploadParts = async (fileId, from) => (api.asked.push(["parts", fileId, from]), renewed);
  const urls = [];
  const send = async ({ url }) => {
    urls.push(url);
    return url.endsWith("/p2") ? { status: 403, etag: null, text: "<Code>AccessDenied</Code>" } : { status: 200, etag: '"e"', text: "" };
  };
  await new Upload(api, fakeFile("big.csv", 20 * MIB), { send }).run();
  assert.ok(urls.includes("https://s3.test/fresh2"));
  assert.deepEqual(api.asked.filter(([call]) => call === "parts"), [["parts", "f1", 2]]);
});

test("cancel stops the parts in flight and deletes the file, leaving nothing behind", async () => {
  const api = fakeApi({ upload: multipart(16 * MIB, 4) });
  let started = 0;
  const send = ({ signal }) =>
    new Promise((resolve, reject) => {
      started += 1;
      signal.addEventListener("abort", () => reject(new Error("aborted")));
    });
  const upload = new Upload(api, fakeFile("big.csv", 64 * MIB), { send, concurrency: 2 });
  const running = upload.run();
  await new Promise((resolve) => setTimeout(resolve, 10));
  upload.cancel();
  assert.equal(await running, null);
  assert.equal(upload.state, "cancelled");
  assert.equal(started, 2);
  assert.deepEqual(api.asked.at(-1), ["delete", "f1"]);
  assert.ok(!api.asked.some(([call]) => call === "complete"));
});

test("the rate is the bytes over the last readings' time", () => {
  let now = 0;
  const progress = new Progress(100, () => now);
  progress.set(1, 0);
  now = 1000;
  progress.set(1, 50);
  now = 2000;
  progress.set(2, 50);
  assert.equal(progress.sent, 100);
  assert.equal(progress.rate, 50);
});

test("S3's errors read as S3's code and message; a body that is not S3's still says the status", () => {
  assert.match(storageError(403, "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>").message, /AccessDenied.*expired/);
  assert.match(storageError(502, "<html>bad gateway</html>").message, /http_502/);
});

test("a part that fails for good stops the parts in flight and deletes the file", async () => {
  const api = fakeApi({ upload: multipart(16 * MIB, 6) });
  let aborted = 0;
  const send = ({ url, signal }) =>
    url.endsWith("/p1")
      ? Promise.resolve({ status: 400, etag: null, text: "<Code>InvalidPart</Code><Message>bad</Message>" })
      : new Promise((resolve, reject) => signal.addEventListener("abort", () => (aborted += 1, reject(new Error("aborted")))));
  const upload = new Upload(api, fakeFile("big.csv", 96 * MIB), { send, concurrency: 3 });
  await assert.rejects(upload.run(), /InvalidPart/);
  assert.equal(upload.state, "failed");
  assert.equal(aborted, 2);
  assert.deepEqual(api.asked.at(-1), ["delete", "f1"]);
});

test("expired URLs are renewed with one request for the parts that follow", async () => {
  const api = fakeApi({ upload: multipart(16 * MIB, 3) });
  const fresh = multipart(16 * MIB, 3);
  fresh.parts.forEach((part) => (part.url = `https://s3.test/fresh${part.part_number}`));
  api.uploadParts = async (fileId, from) => (api.asked.push(["parts", fileId, from]), fresh);
  const send = async ({ url }) => (url.includes("fresh") ? { status: 200, etag: '"e"', text: "" } : { status: 403, etag: null, text: "" });
  await new Upload(api, fakeFile("big.csv", 40 * MIB), { send, concurrency: 1 }).run();
  assert.deepEqual(api.asked.filter(([call]) => call === "parts"), [["parts", "f1", 1]]);
});
