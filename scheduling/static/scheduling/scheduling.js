/* Scheduling screens: the little that htmx alone does not cover.
 *
 * Loaded with the CSP nonce by the scheduling templates. Progressive only: without it every
 * form still submits as plain HTML.
 */
(function () {
  "use strict";

  /* The day sheet's Print button. */
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-print]")) {
      window.print();
    }
  });

  /* Enter in the patient search runs the search instead of submitting the booking form
   * around it (the search input's hx-trigger listens for "search"). */
  document.addEventListener("keydown", function (event) {
    var input = event.target.closest ? event.target.closest("input[data-patient-search]") : null;
    if (!input || event.key !== "Enter") {
      return;
    }
    event.preventDefault();
    if (window.htmx) {
      input.dispatchEvent(new Event("search", { bubbles: true }));
    }
  });

  /* A patient chosen after the slots were found: the Book buttons book for that patient. */
  document.addEventListener("change", function (event) {
    var radio = event.target;
    if (!radio.matches || !radio.matches("input[type=radio][name=patient]")) {
      return;
    }
    document.querySelectorAll("input[data-booking-patient]").forEach(function (input) {
      input.value = radio.value;
    });
    document.querySelectorAll("[data-booking-patient-name]").forEach(function (element) {
      element.textContent = radio.getAttribute("data-name") || "";
    });
    document.querySelectorAll("button[data-needs-patient]").forEach(function (button) {
      button.disabled = false;
    });
    document.querySelectorAll("[data-no-patient]").forEach(function (element) {
      element.hidden = true;
    });
    document.querySelectorAll("[data-with-patient]").forEach(function (element) {
      element.hidden = false;
    });
  });
})();
