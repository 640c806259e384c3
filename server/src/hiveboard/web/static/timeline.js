/* Task timeline: re-renders the timeline from the server when the stream carries an
   event of this task, so a running task can be followed step by step without reload. */
(function () {
  "use strict";
  var L = window.HBLive;
  var root = document.getElementById("timeline");
  if (!root || !L) { return; }
  var taskId = root.dataset.task;
  var pinnedRun = new URLSearchParams(window.location.search).get("run");

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
