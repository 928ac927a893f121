// Uploads straight to S3: the API hands out a presigned POST (up to 100 MiB) or multipart part URLs,
// and the browser sends the bytes there, parts in parallel, with progress and a way to cancel.

import { ApiError, networkError } from "./errors.js";

export const PART_CONCURRENCY = 4;
// A part whose connection broke or that S3 answered 5xx is sent again, this many times in all.
export const PART_ATTEMPTS = 3;
// The rate shown is over this window: recent enough to move, long enough not to flicker.
const RATE_WINDOW_MS = 3000;

/** The byte range of each part: S3 numbers parts from 1; every part but the last is `partSize`. */
export function partRange(partNumber, partSize, size) {
  const start = (partNumber - 1) * partSize;
  return { start, end: Math.min(start + partSize, size) };
}

/** Progress over all parts: bytes sent so far (a part sent again starts over) and the recent rate. */
export class Progress {
  constructor(total, now = () => performance.now()) {
    this.total = total;
    this.now = now;
    this.parts = new Map();
    this.samples = [];
  }

  set(partNumber, bytes) {
    this.parts.set(partNumber, bytes);
    const time = this.now();
    this.samples.push([time, this.sent]);
    while (this.samples.length > 2 && time - this.samples[1][0] > RATE_WINDOW_MS) this.samples.shift();
  }

  get sent() {
    let sum = 0;
    for (const bytes of this.parts.values()) sum += bytes;
    return sum;
  }

  /** Bytes per second over the window; 0 until two readings. */
  get rate() {
    if (this.samples.length < 2) return 0;
    const [firstTime, firstBytes] = this.samples[0];
    const [lastTime, lastBytes] = this.samples[this.samples.length - 1];
    return lastTime > firstTime ? ((lastBytes - firstBytes) * 1000) / (lastTime - firstTime) : 0;
  }
}

/** S3's XML error (`<Code>`, `<Message>`) as an ApiError; expired or refused URLs answer 403. */
export function storageError(status, text) {
  const code = /<Code>([^<]*)<\/Code>/.exec(text ?? "")?.[1] ?? `http_${status}`;
  const message = /<Message>([^<]*)<\/Message>/.exec(text ?? "")?.[1] ?? "The upload was refused.";
  return new ApiError({ status, code: "storage_error", message: `Storage refused the upload (${code}): ${message}` });
}

class Cancelled extends Error {
  constructor() {
    super("Upload cancelled.");
    this.name = "Cancelled";
  }
}

/**
 * Send a body with XMLHttpRequest (fetch reports no upload progress). Resolves {status, etag, text};
 * rejects with a network error, or Cancelled when `signal` aborts.
 */
export function xhrSend({ method, url, body, onProgress, signal }) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    xhr.upload.onprogress = (event) => onProgress(event.loaded);
    // Only a part's answer carries an ETag the bucket's CORS rule exposes; asking a POST's would log an error.
    xhr.onload = () =>
      resolve({ status: xhr.status, etag: method === "PUT" ? xhr.getResponseHeader("ETag") : null, text: xhr.responseText });
    xhr.onerror = () => reject(networkError(new Error("the connection to storage failed")));
    xhr.onabort = () => reject(new Cancelled());
    if (signal.aborted) return reject(new Cancelled());
    signal.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(body);
  });
}

/**
 * One file's upload, into `table` if given. `onChange(upload)` is called on each step and progress reading; read `state`
 * ("starting", "sending", "completing", "done", "failed", "cancelled"), `progress`, `fileId`, `error`.
 */
export class Upload {
  constructor(api, file, { table = null, send = xhrSend, onChange = () => {}, concurrency = PART_CONCURRENCY, now } = {}) {
    this.api = api;
    this.file = file;
    this.table = table; // the table to add the file to; null: a table of its own
    this.send = send;
    this.onChange = onChange;
    this.concurrency = concurrency;
    this.progress = new Progress(file.size, now);
    this.controller = new AbortController();
    this.state = "starting";
    this.fileId = null;
    this.error = null;
    this.record = null;
    this.renewed = new Map(); // part number → a fresh URL, from one request for every expired part
  }

  /** Resolves with the file record once the bytes are stored (the platform then ingests them). */
  async run() {
    try {
      const started = await this.api.startUpload(this.file.name, this.file.size, this.file.type, this.table);
      this.fileId = started.file_id;
      this.step("sending");
      this.checkCancelled();
      if (started.upload.method === "POST") {
        await this.post(started.upload);
        this.record = { file_id: this.fileId, name: this.file.name, status: "UPLOADING", size: this.file.size };
      } else {
        const etags = await this.multipart(started.upload);
        this.step("completing");
        this.record = await this.api.completeUpload(this.fileId, etags);
      }
      this.step("done");
      return this.record;
    } catch (error) {
      const cancelled = this.controller.signal.aborted;
      // A failed part stops the others; either way nothing is left behind to hold the quota.
      this.controller.abort();
      await this.discard();
      if (cancelled) {
        this.step("cancelled");
        return null;
      }
      this.error = error;
      this.step("failed");
      throw error;
    }
  }

  cancel() {
    // Once the parts are being put together the file is the platform's: Delete removes it then.
    if (["completing", "done", "failed", "cancelled"].includes(this.state)) return;
    this.controller.abort();
  }

  /** A cancelled upload leaves nothing behind: its record (and so its parts) are deleted. */
  async discard() {
    if (!this.fileId) return;
    try {
      await this.api.deleteFile(this.fileId);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) this.error = error;
    }
  }

  step(state) {
    this.state = state;
    this.onChange(this);
  }

  checkCancelled() {
    if (this.controller.signal.aborted) throw new Cancelled();
  }

  async post(upload) {
    const form = new FormData();
    for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
    form.append("file", this.file, this.file.name); // S3 takes the file as the form's last field
    const answer = await this.transfer({ method: "POST", url: upload.url, body: form, partNumber: 1 });
    if (answer.status < 200 || answer.status >= 300) throw storageError(answer.status, answer.text);
  }

  /** Every part, `concurrency` at a time; pages of part URLs beyond the first are asked for as needed. */
  async multipart(upload) {
    const etags = [];
    let page = upload;
    while (page) {
      const queue = [...page.parts];
      const worker = async () => {
        for (let part = queue.shift(); part; part = queue.shift()) {
          etags.push({ part_number: part.part_number, etag: await this.sendPart(part, upload.part_size) });
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.concurrency, queue.length) }, worker));
      page = page.next_part ? await this.api.uploadParts(this.fileId, page.next_part) : null;
    }
    return etags.sort((a, b) => a.part_number - b.part_number);
  }

  /** PUT one part: retried after a broken connection or a 5xx; an expired URL (403) renewed once. */
  async sendPart(part, partSize) {
    const { start, end } = partRange(part.part_number, partSize, this.file.size);
    let url = part.url;
    let urlRenewed = false;
    for (let attempt = 1; ; attempt += 1) {
      this.checkCancelled();
      let answer;
      try {
        answer = await this.transfer({ method: "PUT", url, body: this.file.slice(start, end), partNumber: part.part_number });
      } catch (error) {
        if (error instanceof Cancelled || attempt >= PART_ATTEMPTS) throw error;
        continue;
      }
      if (answer.status >= 200 && answer.status < 300 && answer.etag) return answer.etag;
      if (answer.status === 403 && !urlRenewed) {
        urlRenewed = true;
        url = await this.renew(part.part_number);
        continue;
      }
      if (answer.status < 500 || attempt >= PART_ATTEMPTS) throw storageError(answer.status, answer.text);
    }
  }

  /** A fresh URL for part `number`. URLs expire together, so one request renews those after it too. */
  async renew(number) {
    if (!this.renewed.has(number)) {
      const fresh = await this.api.uploadParts(this.fileId, number);
      for (const part of fresh.parts) this.renewed.set(part.part_number, part.url);
    }
    const url = this.renewed.get(number);
    this.renewed.delete(number);
    if (!url) throw storageError(403, "<Code>AccessDenied</Code><Message>The part's address could not be renewed.</Message>");
    return url;
  }

  transfer({ method, url, body, partNumber }) {
    this.progress.set(partNumber, 0);
    return this.send({
      method,
      url,
      body,
      signal: this.controller.signal,
      onProgress: (loaded) => {
        this.progress.set(partNumber, loaded);
        this.onChange(this);
      },
    });
  }
}
