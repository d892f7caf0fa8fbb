/* live.js - the live part of a run page: follows the run's events and log over SSE
 * (EventSource reconnects by itself and sends Last-Event-ID), appends log lines, marks
 * gaps, and updates the state badge. Loaded as a file; the CSP forbids inline script. */
(function () {
  "use strict";
  var box = document.getElementById("live");
  if (!box || !window.EventSource) { return; }
  var log = document.getElementById("log");
  var state = document.getElementById("run-state");
  var status = document.getElementById("live-status");
  var es = new EventSource(box.getAttribute("data-src"));
  function line(text, cls) {
    var div = document.createElement("div");
    if (cls) { div.className = cls; }
    div.textContent = text;
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
  }
  es.onopen = function () { status.textContent = "live"; };
  es.onerror = function () { status.textContent = "reconnecting\u2026"; };
  es.addEventListener("log", function (e) {
    try { var d = JSON.parse(e.data); line(d.line !== undefined ? d.line : e.data); }
    catch (err) { line(e.data); }
  });
  es.addEventListener("gap", function (e) {
    line("\u2014 some events were missed while disconnected; reload for the full record \u2014", "gap");
  });
  function onState(e) {
    try {
      var d = JSON.parse(e.data);
      line("[" + (d.seq ? "step " + d.seq + " " : "run ") + (d.from || "") + " \u2192 " + d.to +
        (d.reason ? ": " + d.reason : "") + "]", "muted");
      if (!d.seq && state) { state.textContent = d.to; state.className = "state " + d.to; }
    } catch (err) { /* ignore a malformed event */ }
  }
  es.addEventListener("state", onState);
  es.addEventListener("step", onState);
}());
