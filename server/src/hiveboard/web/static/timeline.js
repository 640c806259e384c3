/* Task timeline: re-renders the timeline from the server when the stream carries an
   event of this task, so a running task can be followed step by step without reload.
   What the reader opened (a prompt/response preview, any <details> with an id) stays
   open across the swap: the ids are noted just before the swap and re-opened in
   the same task as the swap, before the browser paints the new body. */
(function () {
  "use strict";
  var L = window.HBLive;
  var root = document.getElementById("timeline");
  if (!root || !L) { return; }
  var taskId = root.dataset.task;
  var pinnedRun = new URLSearchParams(window.location.search).get("run");

  var reopen = null;

  function openIds() {
    var ids = [];
    var open = root.querySelectorAll("details[open][id]");
    for (var i = 0; i < open.length; i++) { ids.push(open[i].id); }
    return ids;
  }

  document.addEventListener("htmx:beforeSwap", function (evt) {
    var target = evt.detail && evt.detail.target;
    if (target && target.id === "timeline-body") { reopen = openIds(); }
  });

  document.addEventListener("htmx:afterSwap", function () {
    if (!reopen) { return; }
    var ids = reopen;
    reopen = null;
    for (var i = 0; i < ids.length; i++) {
      var details = document.getElementById(ids[i]);
      if (details && details.tagName === "DETAILS" && root.contains(details)) {
        details.open = true;
      }
    }
  });

  var reload = L.debounce(function () {
    if (!window.htmx) { return; }
    window.htmx.ajax("GET", window.location.pathname + window.location.search, {
      target: "#timeline-body", swap: "outerHTML"
    });
  }, 300);

  L.connect({ agent: root.dataset.agent, include: "events" }, {
    event: function (e) {
      if (e.task_id !== taskId) { return; }
      if (pinnedRun && e.task_run_id !== pinnedRun) { return; }
      reload();
    }
  });
})();
