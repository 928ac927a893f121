// Sign in, create an account, confirm it (in AWS the code arrives by e-mail; locally there is none).

import { h, show } from "../dom.js";

function platformLine(config) {
  return config.local
    ? "Local platform on this computer: accounts are confirmed at once, and the data lasts until the platform stops."
    : `Stage ${config.stage}, AWS region ${config.region}.`;
}

/** A form whose submit button stays disabled while `action` runs; errors go to the notice. */
function accountForm(context, { heading, fields, submit, action, after }) {
  const button = h("button", { type: "submit" }, submit);
  const form = h(
    "form",
    { class: "account-form", "aria-label": heading },
    fields.map(([label, input]) => h("label", {}, h("span", {}, label), input)),
    button,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    context.clearNotice();
    try {
      await action();
    } catch (error) {
      context.notify(error);
      button.disabled = false;
    }
  });
  show(context.main, h("section", { class: "account-page" }, h("h1", {}, heading), h("p", { class: "platform" }, platformLine(context.config)), form, after));
  fields[0][1].focus();
}

const PASSWORD_RULE = "A password of at least 12 characters, with upper and lower case letters, a digit and a symbol.";

// The address typed on one form fills the next (sign-up → confirm → sign-in); never in the URL.
let rememberedEmail = "";

const emailInput = (value = rememberedEmail) => h("input", { type: "email", name: "email", autocomplete: "username", required: true, value });
const passwordInput = (autocomplete) => h("input", { type: "password", name: "password", autocomplete, required: true });

function signin(context) {
  const email = emailInput();
  const password = passwordInput("current-password");
  accountForm(context, {
    heading: "Sign in",
    fields: [
      ["Email", email],
      ["Password", password],
    ],
    submit: "Sign in",
    action: async () => {
      rememberedEmail = email.value.trim();
      try {
        await context.api.signIn(rememberedEmail, password.value);
      } catch (error) {
        if (error.code === "new_password_required") return newPassword(context, password.value);
        if (error.code === "user_not_confirmed") {
          context.navigate("confirm");
          context.notify(error);
          return;
        }
        throw error;
      }
      context.signedIn();
    },
    after: h("p", {}, "New here? ", h("a", { href: "#/signup" }, "Create an account")),
  });
}

function signup(context) {
  const email = emailInput();
  const password = passwordInput("new-password");
  accountForm(context, {
    heading: "Create an account",
    fields: [
      ["Email", email],
      ["Password", password],
    ],
    submit: "Create account",
    action: async () => {
      rememberedEmail = email.value.trim();
      const created = await context.api.signUp(rememberedEmail, password.value);
      if (created.confirmation_required) {
        context.navigate("confirm");
        return;
      }
      await context.api.signIn(rememberedEmail, password.value);
      context.signedIn();
    },
    after: h(
      "p",
      {},
      `${PASSWORD_RULE} Have an account? `,
      h("a", { href: "#/signin" }, "Sign in instead"),
    ),
  });
}

function confirm(context) {
  const email = emailInput();
  const code = h("input", { type: "text", name: "code", inputmode: "numeric", autocomplete: "one-time-code", required: true });
  accountForm(context, {
    heading: "Confirm your account",
    fields: [
      ["Confirmation code", code],
      ["Email", email],
    ],
    submit: "Confirm",
    action: async () => {
      rememberedEmail = email.value.trim();
      await context.api.confirm(rememberedEmail, code.value.trim());
      context.navigate("signin");
    },
    after: h("p", {}, "The code was sent to the address above. ", h("a", { href: "#/signin" }, "Sign in")),
  });
}

/** An account an admin added signs in first with the temporary password it was sent, then chooses its own. */
function newPassword(context, temporary) {
  const chosen = passwordInput("new-password");
  accountForm(context, {
    heading: "Choose a new password",
    fields: [["New password", chosen]],
    submit: "Set password and sign in",
    action: async () => {
      await context.api.signIn(rememberedEmail, temporary, chosen.value);
      context.signedIn();
    },
    after: h("p", {}, PASSWORD_RULE),
  });
}

export const accountViews = { signin, signup, confirm };
