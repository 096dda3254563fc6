// A live chat on the task page: the agent's event stream says a line arrived (chat/<agent>/<task>);
// the thread is fetched again from the desk (rendered and escaped there) and swapped in.
// Replies post with fetch, so the page stays and the chat scrolls on.
"use strict";

(function () {
  const thread = document.getElementById("thread");
  if (!thread || !thread.dataset.task) return;
  const page = window.location.pathname;
  const topic = "chat/" + thread.dataset.agent + "/" + thread.dataset.task;
  let busy = false, again = false;

  function swapThread(html) {
    const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("thread");
    if (fresh) document.getElementById("thread").replaceWith(fresh);
    const messages = document.querySelectorAll("#thread .message");
    if (messages.length) messages[messages.length - 1].scrollIntoView({ block: "nearest" });
  }

  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const answer = await fetch(page, { credentials: "same-origin" });
      if (answer.ok) swapThread(await answer.text());
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }

  const stream = new EventSource("/agent/" + encodeURIComponent(thread.dataset.agent) + "/events");
  stream.addEventListener("chat", (m) => { if (JSON.parse(m.data).topic === topic) refresh(); });
  stream.onopen = () => { document.body.dataset.chatLive = "1"; };

  const form = document.getElementById("reply-form");
  if (form) form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = document.getElementById("reply-text");
    const body = new URLSearchParams(new FormData(form));
    const answer = await deskFetch(form.getAttribute("action"), { method: "POST", body });
    if (answer.ok) { text.value = ""; swapThread(await answer.text()); text.focus(); }
    else { deskNote(form, document.body.dataset.offline); }
  });
})();
