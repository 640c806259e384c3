/* Fleet page: prepends live events to the activity list (built with textContent, never
   from HTML strings), refreshes the cards of agents that changed from the server's own
   rendering, keeps cards in attention order and heartbeat ages ticking. */
(function () {
  "use strict";
  var L = window.HBLive;
  var cards = document.getElementById("cards");
  var list = document.getElementById("activity");
  if (!cards || !list || !L) { return; }
  var pending = {};

  function category(e) {
    if (e.severity === "error" || e.severity === "critical" || e.event_type === "action_failed" ||
        e.event_type === "task_failed" || e.payload_kind === "issue") { return "errors"; }
    if (e.payload_kind === "llm_call") { return "llm"; }
    return e.task_id ? "tasks" : "other";
  }

  function taskHref(taskId, runId) {
    var href = "/tasks/" + encodeURIComponent(taskId);
    return runId ? href + "?run=" + encodeURIComponent(runId) : href;
  }

  function eventRow(e) {
    var cat = category(e);
    var li = L.el("li", "ev ev-" + cat + " ev-new");
    li.dataset.cat = cat;
    var time = L.el("time", null, L.clock(e.timestamp));
    time.dateTime = e.timestamp;
    li.appendChild(time);
    var agent = L.el("a", "ev-agent", e.agent_id);
    agent.href = "/agents/" + encodeURIComponent(e.agent_id);
    li.appendChild(agent);
    li.appendChild(L.el("span", "ev-type", e.payload_kind || e.event_type));
    li.appendChild(L.el("span", "ev-sum", e.summary || ""));
    if (e.task_id) {
      var task = L.el("a", "ev-task", e.task_id);
      task.href = taskHref(e.task_id, e.task_run_id);
      li.appendChild(task);
    }
    return li;
  }

  function addEvent(e) {
    var empty = document.getElementById("activity-empty");
    if (empty) { empty.remove(); }
    list.insertBefore(eventRow(e), list.firstChild);
    var max = parseInt(list.dataset.max || "100", 10);
    while (list.children.length > max) { list.removeChild(list.lastChild); }
  }

  function findCard(agentId) {
    var all = cards.querySelectorAll(".agent-card");
    for (var i = 0; i < all.length; i++) {
      if (all[i].dataset.agent === agentId) { return all[i]; }
    }
    return null;
  }

  function before(a, b) {
    var ra = parseInt(a.dataset.rank, 10), rb = parseInt(b.dataset.rank, 10);
    if (ra !== rb) { return ra < rb; }
    return a.dataset.agent < b.dataset.agent;
  }

  function place(card) {
    var all = cards.querySelectorAll(".agent-card");
    for (var i = 0; i < all.length; i++) {
      if (all[i] !== card && before(card, all[i])) {
        if (card.nextElementSibling !== all[i]) { cards.insertBefore(card, all[i]); }
        return;
      }
    }
    if (cards.lastElementChild !== card) { cards.appendChild(card); }
  }

  function refreshCard(agentId) {
    fetch("/fleet/card?agent=" + encodeURIComponent(agentId), {
      headers: { "HX-Request": "true" }, credentials: "same-origin"
    }).then(function (resp) {
      var redirect = resp.headers.get("HX-Redirect");
      if (redirect) { window.location.assign(redirect); return null; }
      return resp.status === 200 ? resp.text() : null;
    }).then(function (html) {
      if (!html) { return; }
      // Server-rendered, autoescaped markup; DOMParser never runs scripts.
      var doc = new DOMParser().parseFromString(html, "text/html");
      var fresh = doc.querySelector(".agent-card");
      if (!fresh) { return; }
      fresh = document.importNode(fresh, true);
      var old = findCard(agentId);
      var only = cards.dataset.only;
      if (only && !fresh.classList.contains("st-" + only)) {
        if (old) { old.remove(); }  // it left the status this view is filtered on
        return;
      }
      if (old) { old.replaceWith(fresh); } else {
        // A fleet larger than one page: this agent belongs to another page, and
        // appending it would grow this one past its bound with every agent that speaks.
        if (cards.dataset.whole !== "1") { return; }
        var onboarding = document.getElementById("empty-fleet");
        if (onboarding) { onboarding.remove(); }
        cards.appendChild(fresh);
      }
      fresh.classList.add("flash");
      place(fresh);
      tick();
    }).catch(function () { /* the stream's state already shows the problem */ });
  }

  /* At most one card fetch per agent every 1.5 s, the first 250 ms after a change: a
     chatty agent costs the server a bounded number of requests per open tab. */
  var lastFetch = {};
  function scheduleCard(agentId) {
    if (pending[agentId]) { return; }
    var since = Date.now() - (lastFetch[agentId] || 0);
    pending[agentId] = setTimeout(function () {
      delete pending[agentId];
      lastFetch[agentId] = Date.now();
      refreshCard(agentId);
    }, Math.max(250, 1500 - since));
  }

  var refreshRibbon = L.debounce(function () {
    if (window.htmx) { window.htmx.trigger(document.body, "hb:ribbon"); }
  }, 1500);

  function tick() {
    var now = Date.now();
    var all = cards.querySelectorAll(".agent-card[data-heartbeat]");
    for (var i = 0; i < all.length; i++) {
      var beat = all[i].dataset.heartbeat;
      var out = all[i].querySelector(".hb-age");
      if (!beat || !out) { continue; }
      out.textContent = L.age((now - Date.parse(beat)) / 1000) + " ago";
    }
  }
  setInterval(tick, 1000);

  var filter = document.getElementById("activity-filter");
  if (filter) {
    filter.addEventListener("change", function () { list.dataset.filter = filter.value; });
  }

  /* Figures age even when nothing happens (the window slides): refresh every 15 s, but
     only while connected, so a server restart does not fill the console with errors. */
  setInterval(function () {
    var live = document.getElementById("live-state");
    if (live && live.dataset.state === "on" && window.htmx) {
      window.htmx.trigger(document.body, "hb:ribbon");
    }
  }, 15000);

  /* Sparklines slide with the clock even for quiet agents: once a minute (while
     connected) one request returns every shown card's sparkline, rendered and escaped
     by the server from one rollup query; each replaces its card's old one. */
  function refreshSparks() {
    var live = document.getElementById("live-state");
    if (!live || live.dataset.state !== "on") { return; }
    var page = new URLSearchParams(window.location.search);
    var params = new URLSearchParams();
    ["cursor", "status"].forEach(function (name) {
      if (page.get(name)) { params.set(name, page.get(name)); }
    });
    fetch("/fleet/sparks?" + params.toString(), {
      headers: { "HX-Request": "true" }, credentials: "same-origin"
    }).then(function (resp) {
      return resp.status === 200 ? resp.text() : null;
    }).then(function (html) {
      if (!html) { return; }
      var doc = new DOMParser().parseFromString("<div>" + html + "</div>", "text/html");
      var fresh = doc.querySelectorAll("svg.spark");
      for (var i = 0; i < fresh.length; i++) {
        var card = findCard(fresh[i].dataset.agent);
        var old = card && card.querySelector("svg.spark");
        if (!old) { continue; }
        old.replaceWith(document.importNode(fresh[i], true));
        var total = card.querySelector("[data-field=events-1h]");
        if (total) { total.textContent = Number(fresh[i].dataset.total).toLocaleString("en-US"); }
      }
    }).catch(function () { /* the stream's state already shows the problem */ });
  }
  setInterval(refreshSparks, 60000);
  window.HBFleet = { refreshSparks: refreshSparks };

  L.connect({}, {
    event: function (e) { addEvent(e); scheduleCard(e.agent_id); refreshRibbon(); },
    transition: function (t) { scheduleCard(t.agent_id); refreshRibbon(); }
  });
})();
