/* Time-series charts with uPlot. Each <figure data-chart="name" data-source="id"> reads
   columns from the JSON block <script type="application/json" id="id"> (numbers only,
   rendered by the server) and draws the series listed for its name below. Charts are
   redrawn on resize and when the theme changes. */
(function () {
  "use strict";
  var SPECS = {
    throughput: [["tasks_completed", "Completed", "--ok", true], ["tasks_failed", "Failed", "--bad", true]],
    errors: [["errors", "Errors", "--bad", true]],
    cost: [["cost_usd", "Cost (USD)", "--accent", false]],
    activity: [["events", "Events", "--accent", true], ["errors", "Errors", "--bad", true]],
    "agent-cost": [["cost_usd", "Cost (USD)", "--accent", false]],
    tokens: [["tokens_in", "Tokens in", "--accent", true], ["tokens_out", "Tokens out", "--warn", true]]
  };
  /* A cost chart's column of LLM calls with unknown cost per bucket (the cost series
     calls it unknown_cost_calls, the metrics series cost_unknown_calls): such buckets get
     a "?" marker with a tooltip, since their plotted cost leaves those calls out. */
  var UNKNOWN = ["unknown_cost_calls", "cost_unknown_calls"];
  var charts = [];

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
  }

  function load(id) {
    var node = document.getElementById(id);
    if (!node) { return null; }
    try { return JSON.parse(node.textContent); } catch (e) { return null; }
  }

  /* Times are UTC everywhere on the dashboard (the footer says so). */
  function utcLabel(seconds, span) {
    var iso = new Date(seconds * 1000).toISOString();
    return span > 2 * 86400 ? iso.slice(5, 10) : iso.slice(11, 16);
  }

  /* Y-axis labels with enough digits to tell ticks apart: uPlot's default rounds a cost
     axis of fractions of a cent to "0, 0, 0". */
  function amountLabel(v) {
    var a = Math.abs(v);
    if (a === 0) { return "0"; }
    if (a >= 1e6) { return String(Number((v / 1e6).toPrecision(3))) + "M"; }
    if (a >= 1e3) { return String(Number((v / 1e3).toPrecision(3))) + "k"; }
    return String(Number(v.toPrecision(3)));
  }

  function unknownCounts(spec, cols) {
    if (spec[0][0] !== "cost_usd") { return null; }
    for (var i = 0; i < UNKNOWN.length; i++) {
      if (cols[UNKNOWN[i]]) { return cols[UNKNOWN[i]]; }
    }
    return null;
  }

  /* Redrawn with the chart (resize, theme): one marker per bucket with unpriced calls. */
  function markUnknown(u, ts, counts) {
    u.over.querySelectorAll(".chart-unknown").forEach(function (n) { n.remove(); });
    counts.forEach(function (n, i) {
      if (!n) { return; }
      var mark = document.createElement("span");
      mark.className = "chart-unknown warn";
      mark.textContent = "?";
      mark.dataset.unknownCalls = String(n);
      mark.dataset.bucket = String(ts[i]);
      mark.title = new Date(ts[i] * 1000).toISOString().slice(0, 16).replace("T", " ") +
        " UTC: " + n + " LLM call(s) with unknown cost, not in this bucket's cost";
      mark.style.left = u.valToPos(ts[i], "x") + "px";
      u.over.appendChild(mark);
    });
  }

  function build(figure) {
    var spec = SPECS[figure.dataset.chart];
    var cols = load(figure.dataset.source);
    var box = figure.querySelector(".chart-box");
    if (!spec || !cols || !box || !window.uPlot) { return; }
    var fg = cssVar("--muted"), grid = cssVar("--grid");
    var bars = window.uPlot.paths && window.uPlot.paths.bars ? window.uPlot.paths.bars({ size: [0.7, 40] }) : null;
    var series = [{}];
    var unknown = unknownCounts(spec, cols);
    var data = [cols.t];
    spec.forEach(function (s) {
      var color = cssVar(s[2]);
      series.push({
        label: s[1], stroke: color, fill: s[3] ? color + "55" : color + "22", width: 1.5,
        paths: s[3] && bars ? bars : undefined, points: { show: false }
      });
      data.push(cols[s[0]] || []);
    });
    box.textContent = "";
    var axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    var span = cols.t.length > 1 ? cols.t[cols.t.length - 1] - cols.t[0] : 0;
    var xAxis = Object.assign({ space: 64, values: function (u, ticks) {
      return ticks.map(function (t) { return utcLabel(t, span); });
    } }, axis);
    var chart = new window.uPlot({
      width: Math.max(200, box.clientWidth), height: 150, series: series,
      legend: { show: false }, cursor: { drag: { x: false, y: false } },
      axes: [xAxis, Object.assign({ size: 50, values: function (u, ticks) {
        var labels = ticks.map(amountLabel);
        figure.dataset.yTicks = labels.join(" ");  // what was drawn, for tests and tools
        return labels;
      } }, axis)],
      scales: { x: { time: true } },
      hooks: unknown ? { draw: [function (u) { markUnknown(u, cols.t, unknown); }] } : {}
    }, data, box);
    charts.push({ chart: chart, box: box, figure: figure });
  }

  function drawAll() {
    charts.forEach(function (c) { c.chart.destroy(); });
    charts = [];
    document.querySelectorAll("figure[data-chart]").forEach(build);
  }

  function resize() {
    charts.forEach(function (c) {
      c.chart.setSize({ width: Math.max(200, c.box.clientWidth), height: 150 });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
  document.addEventListener("hb:theme", drawAll);
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", drawAll);
  var t = null;
  window.addEventListener("resize", function () { clearTimeout(t); t = setTimeout(resize, 100); });
})();
