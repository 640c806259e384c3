/* The live connection: one EventSource on /v1/stream (the session cookie authenticates
   it), a visible connected/disconnected state, and reconnection after a server restart.
   The browser reconnects by itself while the server answers; when it gives up (a failed
   response closes the EventSource) we open a new one with backoff, resuming from the
   last event id so nothing is missed. */
(function () {
  "use strict";

  function setState(connected) {
    var badge = document.getElementById("live-state");
    var banner = document.getElementById("disconnected");
    if (badge) {
      badge.hidden = false;
      badge.dataset.state = connected ? "on" : "off";
      badge.querySelector(".live-text").textContent = connected ? "Live" : "Offline";
    }
    if (banner) { banner.hidden = connected; }
  }

  function connect(params, handlers) {
    var source = null;
    var lastId = null;
    var delay = 1000;
    var timer = null;

    function open() {
      var query = new URLSearchParams(params || {});
      if (lastId) { query.set("resume", lastId); }
      source = new EventSource("/v1/stream?" + query.toString());
      source.onopen = function () { delay = 1000; setState(true); };
      source.onerror = function () {
        setState(false);
        if (source.readyState === EventSource.CLOSED) {
          clearTimeout(timer);
          timer = setTimeout(open, delay);
          delay = Math.min(delay * 2, 8000);
        }
      };
      source.addEventListener("event", function (msg) {
        if (msg.lastEventId) { lastId = msg.lastEventId; }
        if (handlers.event) { handlers.event(JSON.parse(msg.data)); }
      });
      source.addEventListener("transition", function (msg) {
        if (msg.lastEventId) { lastId = msg.lastEventId; }
        if (handlers.transition) { handlers.transition(JSON.parse(msg.data)); }
      });
    }
    window.addEventListener("pagehide", function () { if (source) { source.close(); } });
    open();
  }

  /* Shared formatting, so live rows read like the server-rendered ones. */
  function age(seconds) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) { return "never"; }
    seconds = Math.max(0, seconds);
    if (seconds < 60) { return Math.floor(seconds) + " s"; }
    if (seconds < 3600) { return Math.floor(seconds / 60) + " m"; }
    if (seconds < 172800) { return Math.floor(seconds / 3600) + " h"; }
    return Math.floor(seconds / 86400) + " d";
  }

  function clock(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return ""; }
    return d.toISOString().slice(11, 19);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function debounce(fn, ms) {
    var t = null;
    return function () {
      var args = arguments;
      clearTimeout(t);
      t = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }

  window.HBLive = { connect: connect, age: age, clock: clock, el: el, debounce: debounce };
})();
