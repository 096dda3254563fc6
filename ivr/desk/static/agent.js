// The agent's desk: one event stream says which panel changed; the panel's HTML is fetched
// from the server (rendered and escaped there). Forms in panels post with fetch, so the pop and
// what the agent types stay on screen. Shortcuts: Alt+R ready, Alt+P pause, Alt+W wrap-up done,
// Alt+M more wrap-up time, Alt+S save the call's documentation.
"use strict";

(function () {
  const desk = document.getElementById("desk");
  if (!desk || !desk.dataset.agent) return;
  const base = "/agent/" + encodeURIComponent(desk.dataset.agent);
  const panels = { state: document.getElementById("state"), call: document.getElementById("call"),
                   doc: document.getElementById("doc"), tasks: document.getElementById("tasks") };
  const pending = {};

  async function refresh(name) {
    // one fetch per panel at a time; a change during it triggers one more
    if (pending[name]) { pending[name] = "again"; return; }
    pending[name] = true;
    try {
      const answer = await fetch(base + "/panel/" + name, { credentials: "same-origin" });
      if (answer.status === 401) { window.location.assign("/login?expired=1"); return; }
      if (answer.redirected) { window.location.reload(); return; }
      if (answer.ok) swap(name, await answer.text());
    } catch (err) {
      // the desk server itself is away: the event stream's reconnect brings a refresh
    } finally {
      const again = pending[name] === "again";
      pending[name] = false;
      if (again) refresh(name);
    }
  }

  function swap(name, html) {
    const panel = panels[name];
    if (!panel) return;
    const focused = document.activeElement && panel.contains(document.activeElement)
      ? document.activeElement.id : null;
    panel.innerHTML = html;
    if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
    desk.dispatchEvent(new CustomEvent("panel", { detail: name }));
    if (name === "call") {             // a new call: its documentation form, once
      const call = document.getElementById("call-body");
      const doc = document.getElementById("doc-body");
      const phase = call ? call.dataset.phase : "";
      if (call && doc && (phase === "talking" || phase === "after") && call.dataset.call !== doc.dataset.call) {
        refresh("doc");
      }
    }
  }

  function connect() {
    const stream = new EventSource(base + "/events");
    stream.addEventListener("state", () => refresh("state"));
    stream.addEventListener("call", () => refresh("call"));
    stream.addEventListener("tasks", () => refresh("tasks"));   // e-mails and other channels
    stream.addEventListener("engine", () => { refresh("state"); refresh("call"); });
    stream.addEventListener("signed-out", () => { stream.close(); window.location.assign("/login?expired=1"); });
    let opened = false;
    stream.onopen = () => {              // the page is fresh the first time; after a reconnect
      if (opened) { refresh("state"); refresh("call"); }   // it may have missed changes
      opened = true;
      desk.dataset.live = "1";          // live: changes show without a reload
    };
    stream.onerror = () => {
      delete desk.dataset.live;
    };
    // EventSource reconnects by itself (retry: 1 s) after the desk server restarts
  }

  // Panel forms: post in place and show the answer (errors included) in the panel.
  desk.addEventListener("submit", async (event) => {
    const form = event.target;
    const name = form.dataset.panel;
    if (!name) return;
    event.preventDefault();
    const body = new URLSearchParams(new FormData(form, event.submitter));
    post(form, name, body, 0);
  });

  // A documentation save that meets a lost connection is retried (what was typed stays on
  // screen meanwhile); a state change is not: the agent is told and decides.
  async function post(form, name, body, tries) {
    try {
      const answer = await deskFetch(form.getAttribute("action"), { method: "POST", body });  // not form.action: an input named "action" shadows it
      if (answer.status === 401) { window.location.assign("/login?expired=1"); return; }
      if (answer.redirected) { window.location.reload(); return; }
      swap(name, await answer.text());
    } catch (err) {
      const retry = name === "doc" && tries < 30;
      deskNote(form, retry ? desk.dataset.retrying : desk.dataset.offline);
      if (retry) setTimeout(() => post(form, name, body, tries + 1), 2000);
    }
  }

  const shortcuts = { r: "ready", p: "pause", w: "ready-now", m: "more-time", s: "doc-save" };
  document.addEventListener("keydown", (event) => {
    if (!event.altKey || event.ctrlKey || event.metaKey) return;
    const id = shortcuts[event.key.toLowerCase()];
    const button = id && document.getElementById(id);
    if (button) { event.preventDefault(); button.click(); }
  });

  // The wrap-up countdown ticks locally between state events.
  setInterval(() => {
    const left = document.getElementById("wrapup-left");
    if (left && +left.textContent > 0) left.textContent = String(+left.textContent - 1);
  }, 1000);

  connect();
})();
