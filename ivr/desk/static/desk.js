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
