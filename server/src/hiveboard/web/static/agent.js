/* Agent page: follows the agent live.  When the stream carries one of its events or
   status transitions, the page's own URL is fetched again (server-rendered, escaped)
   and the header, recent tasks and pipeline sections are swapped for the fresh ones;
   the charts stay as drawn.  At most one refresh every 2 s per open tab. */
(function () {
  "use strict";
  var L = window.HBLive;
  var header = document.getElementById("agent-header");
  if (!header || !L) { return; }
  var agentId = header.dataset.agent;
  var PARTS = ["agent-header", "agent-tasks", "agent-pipeline"];
  var busy = false;
  var again = false;

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.pathname + window.location.search, {
      headers: { "Accept": "text/html" }, credentials: "same-origin"
    }).then(function (resp) {
      if (resp.redirected && resp.url.indexOf("/login") !== -1) {
        window.location.assign(resp.url);
        return null;
      }
      return resp.status === 200 ? resp.text() : null;
    }).then(function (html) {
      if (!html) { return; }
      // DOMParser never runs scripts; the markup is the server's autoescaped template.
      var doc = new DOMParser().parseFromString(html, "text/html");
      PARTS.forEach(function (id) {
        var fresh = doc.getElementById(id);
        var old = document.getElementById(id);
        if (fresh && old) { old.replaceWith(document.importNode(fresh, true)); }
      });
    }).catch(function () { /* the stream's state already shows the problem */ })
      .then(function () {
        busy = false;
        if (again) { again = false; changed(); }
      });
  }

  /* The first refresh 500 ms after a change, then at most one every 2 s. */
  var timer = null;
  var last = 0;
  function changed() {
    if (timer) { return; }
    var wait = Math.max(500, 2000 - (Date.now() - last));
    timer = setTimeout(function () { timer = null; last = Date.now(); refresh(); }, wait);
  }

  L.connect({ agent: agentId }, { event: changed, transition: changed });
})();
