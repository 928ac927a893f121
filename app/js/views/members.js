// Members (admins only): who is in the tenant and with which role; add, change, remove.

import { confirmAction, h, show } from "../dom.js";

const ROLES = ["viewer", "analyst", "admin"];
const ROLE_WORDS = {
  viewer: "reads files and tables, runs queries",
  analyst: "also uploads and deletes own files",
  admin: "also deletes any file and manages members",
};

export function membersView({ api, config, main, notify, clearNotice, me }) {
  const body = h("tbody");
  const email = h("input", { type: "email", required: true, autocomplete: "off" });
  // Locally there is no e-mail to invite by: a new account gets the password given here.
  const password = config.local ? h("input", { type: "password", required: true, autocomplete: "new-password" }) : null;
  const role = h("select", {}, ROLES.map((name) => h("option", { value: name, selected: name === "analyst" }, name)));
  const add = h("button", { type: "submit" }, "Add member");
  const form = h(
    "form",
    { class: "add-member", "aria-label": "Add a member" },
    h("label", {}, h("span", {}, "Email"), email),
    password ? h("label", {}, h("span", {}, "Password"), password) : null,
    h("label", {}, h("span", {}, "Role"), role),
    add,
  );

  async function load() {
    try {
      const { members } = await api.members();
      show(body, members.map(row));
    } catch (error) {
      notify(error);
    }
  }

  function row(member) {
    const select = h(
      "select",
      { "aria-label": `Role of ${member.email}` },
      ROLES.map((name) => h("option", { value: name, selected: name === member.role }, name)),
    );
    // A change is sent by its own button: arrowing through a closed list must not change roles.
    const save = h("button", { type: "button", disabled: true, "aria-label": `Save role of ${member.email}` }, "Save");
    select.addEventListener("change", () => (save.disabled = select.value === member.role));
    save.addEventListener("click", async () => {
      clearNotice();
      save.disabled = true;
      try {
        await api.changeRole(member.user_id, select.value);
        member.role = select.value;
      } catch (error) {
        select.value = member.role;
        notify(error);
      }
    });
    const remove = h("button", { type: "button", class: "danger", "aria-label": `Remove ${member.email}` }, "Remove");
    remove.addEventListener("click", async () => {
      if (!(await confirmAction(`Remove ${member.email} from the tenant?`, "Remove"))) return;
      clearNotice();
      try {
        await api.removeMember(member.user_id);
        load();
      } catch (error) {
        notify(error);
      }
    });
    return h(
      "tr",
      {},
      h("th", { scope: "row" }, member.email, member.user_id === me.user_id ? " (you)" : ""),
      h("td", {}, h("div", { class: "actions" }, select, save)),
      h("td", {}, remove),
    );
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    add.disabled = true;
    clearNotice();
    try {
      const member = { email: email.value.trim(), role: role.value };
      if (password) member.password = password.value;
      await api.addMember(member);
      form.reset();
      load();
    } catch (error) {
      notify(error);
    } finally {
      add.disabled = false;
    }
  });

  show(
    main,
    h("h1", {}, "Members"),
    h("table", { class: "grid", "aria-label": "Members" }, h("thead", {}, h("tr", {}, ["Email", "Role", h("span", { class: "visually-hidden" }, "Actions")].map((title) => h("th", { scope: "col" }, title)))), body),
    h("h2", {}, "Add a member"),
    form,
    h("h2", {}, "Roles"),
    h("dl", { class: "roles" }, ROLES.map((name) => [h("dt", {}, name), h("dd", {}, ROLE_WORDS[name])])),
    h("p", {}, "The last admin cannot be removed or made anything else."),
  );
  load();
}
