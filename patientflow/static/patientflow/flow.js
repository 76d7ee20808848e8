/* Patient flow behaviour htmx alone does not cover (loaded with the CSP nonce).
 *
 * - A board refreshes itself every 10 seconds by replacing its whole fragment. While someone
 *   is choosing a room in it, a refresh would throw their choice away, so that poll is
 *   skipped. Only for a short while: a picker left focused on an unattended screen must not
 *   freeze the board, so after HOLD_MS without a touch the polls run again.
 * - The visit summary's Print button.
 */
(function () {
  "use strict";

  var HOLD_MS = 20000;
  var lastTouched = 0;

  function inBoard(element) {
    return element && element.closest && element.closest("[data-poll]");
  }

  ["focusin", "input", "change", "pointerdown", "keydown"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      if (inBoard(event.target)) {
        lastTouched = Date.now();
      }
    });
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var board = event.detail.elt;
    if (!board || !board.hasAttribute || !board.hasAttribute("data-poll")) {
      return;
    }
    var active = document.activeElement;
    var choosing = active && board.contains(active) && active.matches("select, input, textarea");
    if (choosing && Date.now() - lastTouched < HOLD_MS) {
      event.preventDefault();
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-print]");
    if (button) {
      window.print();
    }
  });
})();
