// Sign in with email and password; the access token is kept for this tab only.
import { endedBecause, post, setSession } from "../api.js";
import { clear, errorBox, field, h } from "../dom.js";

export function render(root, { done }) {
  document.title = "Sign in · Tollgate";
  const email = h("input", { name: "email", type: "email", autocomplete: "username", required: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const why = endedBecause();
  const status = h("div", { "aria-live": "polite" }, why ? h("p", { class: "error", role: "alert" }, why) : null);
  const submit = h("button", { type: "submit" }, "Sign in");
  const form = h("form", { class: "card login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Sign in to Tollgate"),
    field("Email", email), field("Password", password), status, submit,
    h("p", { class: "muted" }, "The first account is the one set by TOLLGATE_ADMIN_EMAIL and TOLLGATE_ADMIN_PASSWORD ",
      "(or created with `tollgate admin create-user`)."));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    clear(status);
    try {
      const r = await post("/user/login", { email: email.value.trim(), password: password.value });
      password.value = "";
      setSession({ token: r.accessToken || r.token, user: r.user }, { refresh: r.refreshToken });
      await done();
    } catch (err) {
      clear(status, errorBox(err));
      password.select();
    } finally {
      submit.disabled = false;
    }
  });
  clear(root, form);
  email.focus();
}
