/* Theme: follows the system (prefers-color-scheme) unless the user picked one with the
   toggle; the choice is kept in localStorage. Loaded in <head> so there is no flash. */
(function () {
  "use strict";
  var KEY = "hb-theme";
  var root = document.documentElement;
  function stored() {
    try { return localStorage.getItem(KEY); } catch (e) { return null; }
  }
  var saved = stored();
  if (saved === "light" || saved === "dark") { root.dataset.theme = saved; }

  function effective() {
    if (root.dataset.theme) { return root.dataset.theme; }
    return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  window.hbTheme = effective;

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("theme-toggle");
    if (!button) { return; }
    button.addEventListener("click", function () {
      var next = effective() === "dark" ? "light" : "dark";
      root.dataset.theme = next;
      try { localStorage.setItem(KEY, next); } catch (e) { /* private mode: session only */ }
      document.dispatchEvent(new CustomEvent("hb:theme", { detail: next }));
    });
  });
})();
