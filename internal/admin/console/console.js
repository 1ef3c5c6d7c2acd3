// Switchboard console: small enhancements over pages that work without
// script. Confirmation before destructive forms; the playground streams.
"use strict";
document.addEventListener("submit", function (e) {
  var f = e.target;
  var msg = f.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) {
    e.preventDefault();
  }
});
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("playground-form");
  if (!form || !window.fetch || !window.TextDecoder) {
    return;
  }
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var out = document.getElementById("pg-answer");
    var timing = document.getElementById("pg-timing");
    var send = document.getElementById("pg-send");
    out.textContent = "";
    timing.textContent = "waiting…";
    send.disabled = true;
    var start = performance.now();
    var first = 0;
    fetch("/console/playground/stream", {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      credentials: "same-origin"
    }).then(function (res) {
      if (!res.ok) {
        return res.text().then(function (t) { throw new Error(t); });
      }
      var reader = res.body.getReader();
      var dec = new TextDecoder();
      function pump() {
        return reader.read().then(function (r) {
          if (r.done) {
            timing.textContent = Math.round(performance.now() - start) + " ms in all, first token after " + Math.round(first) + " ms.";
            return;
          }
          if (!first) {
            first = performance.now() - start;
          }
          out.textContent += dec.decode(r.value, { stream: true });
          return pump();
        });
      }
      return pump();
    }).catch(function (err) {
      out.textContent = "Error: " + err.message;
      timing.textContent = "";
    }).finally(function () {
      send.disabled = false;
    });
  });
});
