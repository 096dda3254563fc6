// The desk's own small script (no library, no build step; CSP allows only same-origin files).
// deskFetch: a fetch that sends the page's CSRF token, for the live parts the desk adds.
"use strict";

function deskCsrfToken() {
  const field = document.querySelector('input[name="csrf_token"]');
  return field ? field.value : "";
}

function deskFetch(url, options = {}) {
  const headers = new Headers(options.headers || {});
  headers.set("X-CSRF-Token", deskCsrfToken());
  return fetch(url, { ...options, headers, credentials: "same-origin" });
}

// Page forms marked data-keep post with fetch, so a lost connection never throws away what was
// typed: "retry" forms (saves that give the same result when sent twice: edits, and new cases
// with their one-time submission id) are sent again every 2 s; "tell" forms say so and wait.
// Without JavaScript they are plain forms.
document.addEventListener("submit", async (event) => {
  const form = event.target;
  const mode = form.dataset && form.dataset.keep;
  if (!mode) return;
  event.preventDefault();
  const body = new URLSearchParams(new FormData(form, event.submitter));
  const button = form.querySelector('button[type="submit"]');
  if (button) button.disabled = true;
  for (let tries = 0; ; tries++) {
    try {
      const answer = await deskFetch(form.getAttribute("action"), { method: "POST", body });
      if (answer.redirected) { window.location.assign(answer.url); return; }
      const page = new DOMParser().parseFromString(await answer.text(), "text/html");
      const main = page.querySelector("main");
      if (main) document.querySelector("main").replaceWith(main);
      else window.location.reload();
      return;
    } catch (err) {
      const retry = mode === "retry" && tries < 30;
      deskNote(form, document.body.dataset[retry ? "retrying" : "offline"]);
      if (!retry) { if (button) button.disabled = false; return; }
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
});

function deskNote(form, text) {
  let note = form.querySelector(".connection-note");
  if (!note) {
    note = document.createElement("p");
    note.className = "error connection-note";
    note.setAttribute("role", "alert");
    form.appendChild(note);
  }
  note.textContent = text;
}
