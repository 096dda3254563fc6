// The visitor's chat: lines arrive as server-sent events and are shown as text (never as
// HTML); the visitor's messages go out with POST and the page's CSRF token. The session is
// the HttpOnly cookie: this script never sees it.
"use strict";

(function () {
  const root = document.getElementById("public");
  const lines = document.getElementById("chat-lines");
  const status = document.getElementById("chat-status");
  const problem = document.getElementById("chat-problem");
  const startForm = document.getElementById("chat-start");
  const sendForm = document.getElementById("chat-send");
  const fallback = document.getElementById("chat-fallback");
  const text = document.getElementById("chat-text");
  let started = false, stream = null;

  function show(kind, who, message) {
    const li = document.createElement("li");
    li.className = kind;
    if (who) { const name = document.createElement("span"); name.className = "who"; name.textContent = who; li.append(name); }
    li.append(document.createTextNode(message));
    lines.append(li);
    lines.scrollTop = lines.scrollHeight;
  }

  // The page's language: its texts come from the server (data-texts); filled in as text only.
  const TEXTS = JSON.parse(root.dataset.texts || "{}");
  function say(key, event) {
    let text = TEXTS["state." + key];
    if (text === undefined) return key;
    for (const name of ["name", "hours"]) text = text.split("{" + name + "}").join(event[name] ?? "");
    return text;
  }

  function listen() {
    if (stream) return;
    stream = new EventSource("/chat/events");
    stream.addEventListener("line", (m) => {
      const e = JSON.parse(m.data);
      show(e.from, e.name, e.text);
    });
    stream.addEventListener("state", (m) => {
      const e = JSON.parse(m.data);
      status.textContent = say(e.state, e);
      status.dataset.state = e.state;
      if (e.state === "joined" || e.state === "waiting") { started = true; startForm.hidden = true; }
      fallback.hidden = e.state !== "unanswered";
      if (e.state === "closed" || e.state === "emailed") { sendForm.hidden = true; fallback.hidden = true; }
    });
  }

  async function post(url, fields) {
    fields.set("csrf_token", root.dataset.csrf);
    const answer = await fetch(url, { method: "POST", body: fields, credentials: "same-origin" });
    const body = await answer.json().catch(() => ({ ok: false, message: say("unavailable", {}) }));
    problem.hidden = body.ok;
    problem.textContent = body.ok ? "" : body.message;
    return body.ok;
  }

  sendForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = new URLSearchParams({ text: text.value });
    if (!started) {
      if (!startForm.reportValidity()) return;
      fields.set("name", document.getElementById("chat-name").value);
      fields.set("email", document.getElementById("chat-email").value);
    }
    listen();
    if (await post(started ? "/chat/send" : "/chat/start", fields)) {
      text.value = "";
      if (!started) { started = true; startForm.hidden = true; }
    }
  });

  fallback.addEventListener("submit", async (event) => {
    event.preventDefault();
    await post("/chat/email", new URLSearchParams({ email: document.getElementById("fallback-email").value }));
  });

  listen();     // a reload finds the chat where it was (the session cookie)
})();
