// The console: loads the platform's config.json, keeps the session, and shows one view at a time
// (#/files, #/tables, #/tables/<name>, #/query, #/usage, #/members).

import { Api } from "./api.js";
import { ApiError, describe } from "./errors.js";
import { h, show } from "./dom.js";
import { accountViews } from "./views/account.js";
import { cancelUploads, filesView, uploading } from "./views/files.js";
import { tablesView } from "./views/tables.js";
import { queryView } from "./views/query.js";
import { membersView } from "./views/members.js";
import { usageView } from "./views/usage.js";

const SIGNED_IN_VIEWS = new Map([
  ["files", ["Files", filesView]],
  ["tables", ["Tables", tablesView]],
  ["query", ["Query", queryView]],
  ["usage", ["Usage", usageView]],
  ["members", ["Members", membersView]],
]);
const ACCOUNT_TITLES = { signin: "Sign in", signup: "Create an account", confirm: "Confirm your account" };

const main = document.getElementById("main");
const notice = document.getElementById("notice");
let me = null;
let leaveView = () => {};
let rendering = 0; // each render's number: an older one that finishes late draws nothing

let config;
try {
  const answer = await fetch("config.json", { cache: "no-cache" });
  if (!answer.ok) throw new Error(`config.json answered ${answer.status}`);
  config = await answer.json();
} catch (error) {
  show(main, h("h1", {}, "The console could not start"), h("p", {}, `Its configuration could not be read (${error.message}). Reload the page.`));
  throw error;
}
const api = new Api({ baseUrl: config.api_url || location.origin, storage: localStorage });

document.getElementById("stage").textContent = config.local ? "local" : config.stage;
document.getElementById("sign-out").addEventListener("click", () => signOut());
document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault(); // a hash of its own would be taken for a page
  main.focus();
});
api.onSignedOut = () => {
  signOut(new Error("The session has ended. Sign in again."));
};
// Another tab signed in as someone else, or out: this tab must not go on as a mix of the two.
window.addEventListener("storage", (event) => {
  if (api.isSessionKey(event.key)) location.reload();
});
window.addEventListener("beforeunload", (event) => {
  if (uploading()) event.preventDefault(); // the browser asks before leaving: the uploads would stop
});
// Files dropped outside the drop zone would otherwise replace the console with the file.
for (const type of ["dragover", "drop"]) window.addEventListener(type, (event) => event.preventDefault());

function signOut(reason) {
  cancelUploads();
  api.signOut();
  sessionStorage.clear(); // the SQL draft is the signed-out person's
  me = null;
  if (reason) notify(reason);
  navigate("signin");
}

/** Show an error (or a plain message) above the view, with the request id to quote. */
function notify(error) {
  const { message, requestId } = describe(error);
  show(
    notice,
    h("p", {}, message),
    requestId ? h("p", { class: "request-id" }, `Request id: ${requestId}`) : null,
    h("button", { type: "button", onclick: clearNotice }, "Dismiss"),
  );
  notice.hidden = false;
}

function clearNotice() {
  notice.hidden = true;
  notice.replaceChildren();
}

function navigate(name) {
  if (location.hash === `#/${name}`) render();
  else location.replace(`#/${name}`); // a redirect, not a page to go Back to
}

function setChrome(title) {
  const signedIn = me !== null;
  document.title = `${title} · Serverless Data Platform`;
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("account").hidden = !signedIn;
  document.getElementById("nav-members").hidden = me?.role !== "admin";
  const tenant = signedIn && me.tenant_name !== me.email ? ` · ${me.tenant_name}` : "";
  document.getElementById("who").textContent = signedIn ? `${me.email} · ${me.role}${tenant}` : "";
  for (const link of document.querySelectorAll("#nav a")) {
    const href = link.getAttribute("href");
    if (location.hash === href || location.hash.startsWith(`${href}/`)) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function render() {
  leaveView();
  leaveView = () => {};
  const number = ++rendering;
  // #/tables/sales: the view "tables", with what follows its name ("sales") as its params.
  const [name, ...params] = location.hash.replace(/^#\/?/, "").split("/").map(decodePart);
  const context = { api, config, main, notify, navigate, clearNotice };
  if (!api.signedIn) {
    me = null;
    const view = Object.hasOwn(accountViews, name) ? name : "signin";
    setChrome(ACCOUNT_TITLES[view]);
    leaveView = accountViews[view]({ ...context, signedIn: onSignedIn }) ?? leaveView;
    return;
  }
  try {
    me ??= await api.me();
  } catch (error) {
    if (number !== rendering || !api.signedIn) return; // another render, or onSignedOut, took over
    if (error instanceof ApiError && error.code === "no_tenant") {
      signOut(error); // removed from the tenant: nothing here is theirs any more
      return;
    }
    setChrome("Unavailable");
    show(main, h("h1", {}, "The console could not load your account"), h("p", {}, describe(error).message), h("p", {}, "Reload the page to try again."));
    notify(error);
    return;
  }
  if (number !== rendering) return;
  const entry = SIGNED_IN_VIEWS.get(name);
  if (!entry || (name === "members" && me.role !== "admin")) {
    navigate("files");
    return;
  }
  const [title, view] = entry;
  setChrome(title);
  leaveView = view({ ...context, me, params: params.filter(Boolean) }) ?? leaveView;
  main.focus({ preventScroll: true });
}

function decodePart(part) {
  try {
    return decodeURIComponent(part);
  } catch {
    return part; // a stray "%" typed into the address: taken as it is
  }
}

function onSignedIn() {
  me = null;
  clearNotice();
  navigate("files");
}

window.addEventListener("hashchange", render);
render();
