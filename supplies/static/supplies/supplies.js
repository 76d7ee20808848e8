/* Supplies screens: tile taps, steppers, live item search, the barcode wedge, undo countdown.
 *
 * Loaded with the CSP nonce. Progressive: without it a tile tap, a scan + Enter and a search
 * are form submissions the server answers, so everything still works as plain HTML.
 */
(function () {
  "use strict";

  var NOTHING = "Nothing to log yet: tap the items used.";

  function count(input) {
    var value = parseInt(input.value, 10);
    return isNaN(value) || value < 0 ? 0 : value;
  }

  function clamp(input, value) {
    var max = parseInt(input.getAttribute("max"), 10);
    if (!isNaN(max) && value > max) {
      value = max;
    }
    return value < 0 ? 0 : value;
  }

  function setCount(input, value) {
    input.value = value > 0 ? String(value) : "";
    input.removeAttribute("aria-invalid");
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function bump(tile) {
    if (!tile) {
      return;
    }
    tile.classList.remove("is-bumped");
    void tile.offsetWidth; // restart the animation
    tile.classList.add("is-bumped");
  }

  function announce(form, text) {
    var status = form && form.querySelector("[data-tiles-status]");
    if (status) {
      status.textContent = text;
    }
  }

  function updateTile(tile) {
    var input = tile && tile.querySelector("[data-qty]");
    if (input) {
      tile.classList.toggle("tile--selected", count(input) > 0);
    }
  }

  function updateSummary(form) {
    var summary = form && form.querySelector("[data-summary]");
    if (!summary) {
      return;
    }
    var parts = [];
    form.querySelectorAll("[data-tile]").forEach(function (tile) {
      var input = tile.querySelector("[data-qty]");
      var n = input ? count(input) : 0;
      if (n > 0) {
        parts.push(tile.getAttribute("data-name") + " \u00d7 " + n);
      }
    });
    summary.textContent = parts.length ? parts.join(", ") : NOTHING;
  }

  /* Tile taps and steppers: +1 / -1 in the browser, no request. */
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-step][data-for]");
    if (!button) {
      return;
    }
    var input = document.getElementById(button.getAttribute("data-for"));
    if (!input) {
      return;
    }
    event.preventDefault();
    var step = parseInt(button.getAttribute("data-step"), 10) || 0;
    setCount(input, clamp(input, count(input) + step));
    if (step > 0) {
      bump(button.closest("[data-tile]"));
    }
  });

  document.addEventListener("input", function (event) {
    var input = event.target;
    if (input.matches("[data-qty]")) {
      updateTile(input.closest("[data-tile]"));
      updateSummary(input.form);
    } else if (input.matches("[data-search]")) {
      filterTiles(input.form, input.value);
    }
  });

  function filterTiles(form, text) {
    if (!form) {
      return;
    }
    var query = text.trim().toLowerCase();
    var shown = 0;
    form.querySelectorAll("[data-tile]").forEach(function (tile) {
      var match = !query || tile.getAttribute("data-search-text").indexOf(query) >= 0;
      tile.hidden = !match;
      shown += match ? 1 : 0;
    });
    var none = form.querySelector("[data-tiles-none]");
    if (none) {
      none.hidden = shown > 0;
    }
  }

  function findTile(form, code) {
    var wanted = code.toLowerCase();
    var found = null;
    form.querySelectorAll("[data-tile]").forEach(function (tile) {
      if (found) {
        return;
      }
      var codes = (tile.getAttribute("data-codes") || "").toLowerCase().split(/\s+/);
      if (codes.indexOf(wanted) >= 0) {
        found = tile;
      }
    });
    return found;
  }

  /* A keyboard-wedge scanner types the code and Enter: add the item at once. A code this page
   * does not know goes to the server, which says why it is not here. Enter in the search box
   * only searches. */
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter") {
      return;
    }
    var field = event.target;
    if (field.matches("[data-search]")) {
      event.preventDefault();
      filterTiles(field.form, field.value);
      return;
    }
    if (!field.matches("[data-scan]")) {
      return;
    }
    event.preventDefault();
    var code = field.value.trim();
    if (!code) {
      return;
    }
    var tile = findTile(field.form, code);
    if (!tile) {
      var submit = field.form.querySelector("[data-scan-button]");
      if (submit) {
        submit.click();
      }
      return;
    }
    var input = tile.querySelector("[data-qty]");
    setCount(input, clamp(input, count(input) + 1));
    bump(tile);
    announce(field.form, "Added " + tile.getAttribute("data-name") + ": " + count(input));
    field.value = "";
    field.focus();
  });

  /* Undo is possible for a few minutes; say how long, and stop offering it after. */
  function tickUndo() {
    document.querySelectorAll("[data-undo-until]").forEach(function (button) {
      var until = Date.parse(button.getAttribute("data-undo-until"));
      var left = button.parentNode.querySelector("[data-undo-left]");
      if (isNaN(until)) {
        return;
      }
      var seconds = Math.round((until - Date.now()) / 1000);
      if (seconds <= 0) {
        button.disabled = true;
        button.textContent = "Undo no longer possible";
        if (left) {
          left.textContent = "Record a count to correct it.";
        }
        button.removeAttribute("data-undo-until");
      } else if (left) {
        var m = Math.floor(seconds / 60);
        var s = seconds % 60;
        left.textContent = "Possible for " + m + ":" + (s < 10 ? "0" : "") + s;
      }
    });
  }

  function prepare(root) {
    root.querySelectorAll("[data-js-only][hidden]").forEach(function (el) {
      el.hidden = false;
    });
    root.querySelectorAll("form").forEach(function (form) {
      if (form.querySelector("[data-summary]")) {
        updateSummary(form);
      }
    });
    tickUndo();
  }

  /* After a log, undo or count the panel is new: put the eyes (and focus) on the feedback,
   * or back in the barcode field after a scan the server handled. */
  document.addEventListener("htmx:afterSettle", function () {
    prepare(document);
    var scan = document.querySelector("[data-scan][autofocus]");
    if (scan) {
      scan.focus();
      return;
    }
    var feedback = document.querySelector("[data-feedback]");
    if (feedback) {
      feedback.focus({ preventScroll: true });
      feedback.scrollIntoView({ block: "nearest" });
    }
  });

  function ready(fn) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", fn);
    } else {
      fn();
    }
  }

  ready(function () {
    prepare(document);
    window.setInterval(tickUndo, 1000);
  });
})();
