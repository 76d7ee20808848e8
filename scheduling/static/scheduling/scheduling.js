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

  /* Today's day view opens scrolled to the clinic's current time (the server marks that row,
   * by the clinic's time zone, and only on today's grid). Once per grid rendered: it never
   * takes the scroll away from someone who has moved it. */
  function scrollToNow() {
    document.querySelectorAll(".sched-grid-wrap").forEach(function (frame) {
      var row = frame.querySelector("tr[data-now]");
      if (!row || frame.hasAttribute("data-scrolled")) {
        return;
      }
      frame.setAttribute("data-scrolled", "");
      var head = frame.querySelector("thead");
      var above = (head ? head.offsetHeight : 0) + row.offsetHeight * 2;
      var offset = row.getBoundingClientRect().top - frame.getBoundingClientRect().top;
      frame.scrollTop = Math.max(0, frame.scrollTop + offset - above);
    });
  }
  scrollToNow();
  document.addEventListener("htmx:afterSettle", scrollToNow);

  /* Undo of a cancellation: the server says how many seconds are left by its own clock
   * (data-undo-seconds); the page counts those down on its monotonic clock, so a desk
   * computer or tablet whose clock is wrong still shows the right time left. The server
   * refuses a late undo anyway; this only stops offering it. */
  function tickUndo() {
    var now = window.performance.now();
    document.querySelectorAll("[data-undo-seconds]").forEach(function (button) {
      var seconds = parseInt(button.getAttribute("data-undo-seconds"), 10) || 0;
      button.removeAttribute("data-undo-seconds");
      button.setAttribute("data-undo-until", String(now + seconds * 1000));
    });
    document.querySelectorAll("[data-undo-until]").forEach(function (button) {
      var left = Math.ceil((parseFloat(button.getAttribute("data-undo-until")) - now) / 1000);
      var label = button.parentNode.querySelector("[data-undo-left]");
      if (left > 0) {
        if (label) {
          label.textContent = "Possible for " + left + " s";
        }
        return;
      }
      button.removeAttribute("data-undo-until");
      button.disabled = true;
      button.textContent = "Undo no longer possible";
      if (label) {
        label.textContent = "";
      }
    });
  }
  tickUndo();
  document.addEventListener("htmx:afterSettle", tickUndo);
  window.setInterval(tickUndo, 1000);
})();
