// The console: loads the platform's config.json, keeps the session, and shows one view at a time.

import { Api } from "./api.js";
import { describe } from "./errors.js";
import { h, show } from "./dom.js";
import { accountViews } from "./views/account.js";
import { filesView } from "./views/files.js";
import { tablesView } from "./views/tables.js";
import { queryView } from "./views/query.js";
import { membersView } from "./views/members.js";

const SIGNED_IN_VIEWS = { files: filesView, tables: tablesView, query: queryView, members: membersView };

const config = await (await fetch("config.json", { cache: "no-cache" })).json();
const api = new Api({ baseUrl: config.api_url || location.origin, storage: localStorage });
const main = document.getElementById("main");
const notice = document.getElementById("notice");
let me = null;
let leaveView = () => {};

document.getElementById("stage").textContent = config.local ? "local" : config.stage;
document.getElementById("sign-out").addEventListener("click", () => {
  api.signOut();
  me = null;
  navigate("signin");
});
api.onSignedOut = () => {
  me = null;
  notify(new Error("The session has ended. Sign in again."));
  navigate("signin");
};

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
  else location.hash = `#/${name}`;
}

function setChrome() {
  const signedIn = me !== null;
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("account").hidden = !signedIn;
  document.getElementById("nav-members").hidden = me?.role !== "admin";
  const tenant = signedIn && me.tenant_name !== me.email ? ` · ${me.tenant_name}` : "";
  document.getElementById("who").textContent = signedIn ? `${me.email} · ${me.role}${tenant}` : "";
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.getAttribute("href") === location.hash) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function render() {
  leaveView();
  leaveView = () => {};
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const context = { api, config, main, notify, navigate, clearNotice, argument: rest.map(decodeURIComponent).join("/") };
  if (!api.signedIn) {
    me = null;
    setChrome();
    const view = accountViews[name] ?? accountViews.signin;
    leaveView = view({ ...context, signedIn: onSignedIn }) ?? leaveView;
    return;
  }
  try {
    me ??= await api.me();
  } catch (error) {
    if (!api.signedIn) return; // onSignedOut has already gone to sign-in
    setChrome();
    show(main, h("h1", {}, "The platform cannot be reached"), h("p", {}, describe(error).message));
    notify(error);
    return;
  }
  const view = SIGNED_IN_VIEWS[name];
  if (!view || (name === "members" && me.role !== "admin")) {
    navigate("files");
    return;
  }
  setChrome();
  leaveView = view({ ...context, me }) ?? leaveView;
  main.focus({ preventScroll: true });
}

function onSignedIn() {
  me = null;
  clearNotice();
  navigate("files");
}

window.addEventListener("hashchange", render);
render();
