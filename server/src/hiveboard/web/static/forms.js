/* Small form helpers: filter forms drop their empty fields so permalinks stay short
   (/tasks?status=failed rather than a list of empty parameters). */
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-drop-empty")) { return; }
    Array.prototype.forEach.call(form.elements, function (field) {
      if (field.name && field.value === "") { field.disabled = true; }
    });
  });
  /* Back/forward cache: re-enable fields disabled by a submit. */
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-drop-empty] [disabled]").forEach(function (field) {
      field.disabled = false;
    });
  });
})();
