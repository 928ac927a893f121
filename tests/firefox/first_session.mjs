// A first session in the web console, in headless Firefox (Debian's firefox-esr) driven by
// puppeteer-core over WebDriver BiDi: create an account, upload a CSV, wait for READY, run an
// aggregate from the SQL editor with Ctrl+Enter, print the result's rows as JSON on stdout.
//
//   node tests/firefox/first_session.mjs <console-url> <csv-path> <sql>
//
// Exit 0: the rows were printed. Exit 1: a step failed or timed out, or the page logged an error,
// threw, or reported a Content-Security-Policy violation (each listed on stderr). Exit 2: usage.
// Exit 3: no Firefox at $FIREFOX (default /usr/lib/firefox-esr/firefox-esr).
// A screenshot goes to out/artifacts/console/firefox-query.png (firefox-failure.png on a failure).

import { existsSync, mkdirSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import puppeteer from "puppeteer-core";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const SCREENSHOTS = join(ROOT, "out", "artifacts", "console");
// The package's binary: /usr/bin/firefox-esr is a link to it.
const FIREFOX = process.env.FIREFOX || "/usr/lib/firefox-esr/firefox-esr";
const WAIT_MS = 60_000;
// The console's password rules: 12 or more characters, upper and lower case, a digit, a symbol.
const PASSWORD = "Correct-Horse-42!";
// Written into every document before its own scripts run: policy violations become console errors.
const REPORT_VIOLATIONS = `
document.addEventListener("securitypolicyviolation", (event) =>
  console.error(\`CSP violation: \${event.violatedDirective} \${event.blockedURI} \${event.sourceFile}\`));
`;
// The console shows the API's refusals to the user itself; a browser that logs them is not wrong.
const EXPECTED_NOISE = /^Failed to load resource: the server responded with a status of 4\d\d/;
// Firefox ESR 140 reports, now and then while a page loads, an error of puppeteer's own sandbox
// reading an object of the page's (a security wrapper's refusal): no code of the console's own
// objects can raise it.
const AUTOMATION_NOISE = /^(Error: )?Permission denied to access property "length"$/;

function usage(message) {
  process.stderr.write(`first_session: ${message}\nusage: node first_session.mjs <console-url> <csv-path> <sql>\n`);
  process.exit(2);
}

const [url, csvPath, sql] = process.argv.slice(2);
if (!url || !csvPath || !sql) usage("three arguments are needed");
if (!existsSync(csvPath)) usage(`no file at ${csvPath}`);
if (!existsSync(FIREFOX)) {
  process.stderr.write(`first_session: no Firefox at ${FIREFOX} (apt-get install firefox-esr, or set FIREFOX)\n`);
  process.exit(3);
}

const problems = [];
let step = "starting Firefox";

/** Run `action` as the named step; every wait inside it gives up after WAIT_MS. */
async function doing(name, action) {
  step = name;
  process.stderr.write(`first_session: ${name}\n`);
  return action();
}

/** Throw `what: <the error>` when `action` fails: which control a step was waiting for. */
async function explained(what, action) {
  try {
    return await action();
  } catch (error) {
    throw new Error(`${what}: ${error.message ?? error}`);
  }
}

/** The element with this role and accessible name, as a person finds it (a locator: waits, then acts). */
function named(page, name, role) {
  const locator = page.locator(`::-p-aria([name=${JSON.stringify(name)}][role=${JSON.stringify(role)}])`);
  const what = `the ${role} "${name}"`;
  return {
    wait: () => explained(what, () => locator.wait()),
    // Clicked through its handle: a locator's own click waits for checks Firefox ESR 140 never passes.
    click: () =>
      explained(what, async () => {
        const handle = await locator.waitHandle();
        await handle.click();
        await handle.dispose();
      }),
  };
}

/**
 * The form control whose <label> reads `text` (Firefox gives labels an accessible name of their own,
 * so a name alone finds the label first; the role of a password field is not "textbox" there).
 */
async function labelled(page, text) {
  return explained(`the field labelled "${text}"`, async () => {
    const control = (wanted) =>
      [...document.querySelectorAll("label")].find((label) => label.textContent.trim() === wanted)?.control;
    await until(
      page,
      (wanted) => [...document.querySelectorAll("label")].some((label) => label.textContent.trim() === wanted && label.control),
      text,
    );
    const handle = await page.evaluateHandle(control, text);
    return handle.asElement();
  });
}

/**
 * Wait until `predicate(...args)`, run in the page, returns something truthy; that value. Asked
 * again every 100 ms from here: puppeteer's own wait runs its poller in a way the console's CSP
 * refuses in Firefox ESR 140.
 */
async function until(page, predicate, ...args) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await page.evaluate(predicate, ...args);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`nothing after ${WAIT_MS / 1000} s`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

// puppeteer's profile for Firefox already turns off updates, telemetry and the other background traffic.
let browser;
try {
  // The window's own size, not an emulated viewport: puppeteer sets one with a command (a screen
  // orientation) that Debian's Firefox ESR 140 does not know.
  browser = await puppeteer.launch({
    browser: "firefox",
    executablePath: FIREFOX,
    headless: true,
    timeout: WAIT_MS,
    defaultViewport: null,
    args: ["--width=1280", "--height=860"],
  });
} catch (error) {
  process.stderr.write(`first_session: Firefox (${FIREFOX}) did not start: ${error.message ?? error}\n`);
  process.exit(1);
}
let page;
let failed = null;
let rows = null;
try {
  page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on("console", (message) => {
    if (message.type() === "error" && !EXPECTED_NOISE.test(message.text())) problems.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => {
    const message = error.message ?? String(error);
    if (!AUTOMATION_NOISE.test(message)) problems.push(`uncaught (${step}): ${message}`);
  });
  await page.evaluateOnNewDocument(REPORT_VIOLATIONS);

  await doing(`opening ${url}`, async () => {
    await page.goto(url, { waitUntil: "load" });
    await named(page, "Sign in", "heading").wait();
  });

  const email = `firefox-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}@example.com`;
  await doing(`creating the account ${email}`, async () => {
    await named(page, "Create an account", "link").click();
    for (const [label, text] of [["Email", email], ["Password", PASSWORD]]) {
      const field = await labelled(page, label);
      await field.type(text);
      await field.dispose();
    }
    await named(page, "Create account", "button").click();
    await named(page, "Files", "heading").wait();
  });

  const name = basename(csvPath);
  await doing(`uploading ${name}`, async () => {
    const input = await labelled(page, "Upload files");
    await input.uploadFile(resolve(csvPath));
    await input.dispose();
  });

  await doing(`waiting for ${name} to be READY`, async () => {
    const status = await until(
      page,
      (fileName) => {
        const table = [...document.querySelectorAll("table")].find((each) => each.caption?.textContent === "Files");
        const row = [...(table?.tBodies[0]?.rows ?? [])].find((each) => each.cells[0].textContent === fileName);
        const text = row?.cells[1].textContent;
        return text === "READY" || text === "FAILED" ? `${text} ${row.cells[4].textContent}` : null;
      },
      name,
    );
    if (!status.startsWith("READY")) throw new Error(`the file is ${status}`);
  });

  await doing("opening Query", async () => {
    await named(page, "Query", "link").click();
    await named(page, "Query", "heading").wait();
  });

  await doing("writing the SQL and running it with Ctrl+Enter", async () => {
    // The editor lives in a shadow root of .editor; `>>>` looks inside it.
    const editor = await page.waitForSelector(".editor >>> [role='textbox'][aria-label='SQL']");
    await editor.click();
    await page.keyboard.down("Control");
    await page.keyboard.press("a");
    await page.keyboard.up("Control");
    await page.keyboard.press("Delete");
    await editor.type(sql);
    const typed = await editor.evaluate((element) => element.innerText.replace(/\u00a0/g, " ").trim());
    if (typed !== sql.trim()) throw new Error(`the editor holds ${JSON.stringify(typed)}`);
    await editor.dispose();
    await page.keyboard.down("Control");
    await page.keyboard.press("Enter");
    await page.keyboard.up("Control");
  });

  rows = await doing("waiting for the Results table", async () => {
    const outcome = await until(page, () => {
      const table = document.querySelector("table[aria-label='Results']");
      if (table) return { rows: [...table.tBodies[0].rows].map((row) => [...row.cells].map((cell) => cell.innerText)) };
      const failure = document.querySelector(".refusal:not([hidden]), .results .failure, #notice:not([hidden])");
      return failure ? { failure: failure.innerText } : null;
    });
    if (outcome.failure) throw new Error(`the console shows: ${outcome.failure}`);
    return outcome.rows;
  });

  await doing("taking the screenshot", async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, "firefox-query.png"), fullPage: true });
  });
} catch (error) {
  failed = `${step}: ${error.message ?? error}`;
  if (page) {
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, "firefox-failure.png"), fullPage: true }).catch(() => {});
  }
} finally {
  await browser.close().catch(() => {});
}

if (failed || problems.length) {
  if (failed) process.stderr.write(`first_session: FAILED while ${failed}\n`);
  if (problems.length) process.stderr.write(`first_session: the page reported:\n${problems.map((each) => `  ${each}\n`).join("")}`);
  process.exit(1);
}
process.stdout.write(`${JSON.stringify(rows)}\n`);
