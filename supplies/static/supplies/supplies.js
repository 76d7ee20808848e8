/* Supplies screens: tile taps, steppers, live item search, the barcode wedge, undo countdown,
 * and the unconfirmed log kept on the tablet until the server answers.
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

  /* Undo is possible for a few minutes; say how long, and stop offering it after. The
   * server says how many seconds are left by its own clock (data-undo-seconds); the tablet
   * turns that into a deadline on its own clock once, so a tablet whose clock is off still
   * counts down the right time. */
  function tickUndo() {
    document.querySelectorAll("[data-undo-seconds]").forEach(function (button) {
      var seconds = parseInt(button.getAttribute("data-undo-seconds"), 10);
      button.removeAttribute("data-undo-seconds");
      if (!isNaN(seconds)) {
        button.setAttribute("data-undo-until", String(Date.now() + seconds * 1000));
      }
    });
    document.querySelectorAll("[data-undo-until]").forEach(function (button) {
      var until = parseInt(button.getAttribute("data-undo-until"), 10);
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
    /* A stored log answers with the feedback only: clear what was tapped. */
    var logged = document.querySelector("[data-logged]");
    if (logged) {
      logged.removeAttribute("data-logged");
      var form = document.getElementById("log-form");
      if (form) {
        form.querySelectorAll("[data-qty]").forEach(function (input) {
          input.value = "";
          input.removeAttribute("aria-invalid");
        });
        form.querySelectorAll(".error-summary, .tile__error").forEach(function (el) {
          el.remove();
        });
        form.querySelectorAll("[data-tile]").forEach(function (tile) {
          tile.classList.remove("tile--error");
          updateTile(tile);
        });
      }
    }
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

  /* A log is kept on the tablet (localStorage) from the moment it is sent until the server
   * answers. A database blip, a dropped connection or a 500 leaves it there; a reload then
   * sends it again with the same submission key, which the server logs at most once (the
   * first answer comes back if the first try was stored). Only the nurse who sent it, and
   * only on that location's screen, resends it; after PENDING_MAX_AGE it is dropped. */
  var PENDING = "clinicops.supplies.pending-log";
  var PENDING_MAX_AGE = 12 * 60 * 60 * 1000;

  function readPending() {
    try {
      var raw = window.localStorage.getItem(PENDING);
      return raw ? JSON.parse(raw) : null;
    } catch (error) {
      return null;
    }
  }

  function writePending(pending) {
    try {
      window.localStorage.setItem(PENDING, JSON.stringify(pending));
    } catch (error) {
      /* storage full or refused: the log still goes, only the resend is lost */
    }
  }

  function clearPending(key) {
    var pending = readPending();
    if (pending && pending.key === key) {
      try {
        window.localStorage.removeItem(PENDING);
      } catch (error) {
        /* nothing to do */
      }
    }
  }

  function tabletUser(form) {
    var tablet = form.closest("[data-tablet]");
    return tablet ? tablet.getAttribute("data-user") : "";
  }

  function isLogRequest(config) {
    var form = config && config.elt;
    return (
      !!form &&
      form.id === "log-form" &&
      !!config.formData &&
      config.formData.get("action") === "log" &&
      config.verb === "post"
    );
  }

  function say(kind, title, note) {
    var box = document.getElementById("log-feedback");
    if (!box) {
      return;
    }
    box.className = "feedback feedback--" + kind;
    box.textContent = "";
    var heading = document.createElement("p");
    heading.className = "feedback__title";
    heading.textContent = title;
    box.appendChild(heading);
    var body = document.createElement("p");
    body.className = "feedback__note";
    body.textContent = note;
    box.appendChild(body);
    box.setAttribute("data-feedback", "");
  }

  document.addEventListener("htmx:configRequest", function (event) {
    var config = event.detail;
    if (!isLogRequest(config)) {
      return;
    }
    var form = config.elt;
    var fields = {};
    var parts = [];
    config.formData.forEach(function (value, name) {
      if (/^qty_\d+$/.test(name) && String(value).trim() && String(value).trim() !== "0") {
        fields[name] = String(value).trim();
        var input = document.getElementById("id_" + name);
        var tile = input && input.closest("[data-tile]");
        parts.push((tile ? tile.getAttribute("data-name") : name) + " \u00d7 " + fields[name]);
      } else if (name === "visit") {
        fields.visit = String(value);
      }
    });
    var key = String(config.formData.get("idempotency_key") || "");
    var previous = readPending();
    writePending({
      key: key,
      resends: previous && previous.key === key ? previous.resends || 0 : 0,
      url: form.getAttribute("action"),
      user: tabletUser(form),
      fields: fields,
      summary: parts.join(", "),
      at: Date.now()
    });
  });

  /* Any answer from the server (a log, a replay, a refusal, a form error) settles it; no
   * answer, or a server error, leaves it kept for the resend. */
  document.addEventListener("htmx:afterRequest", function (event) {
    var config = event.detail.requestConfig;
    if (!isLogRequest(config)) {
      return;
    }
    var key = String(config.formData.get("idempotency_key") || "");
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (status >= 200 && status < 300) {
      clearPending(key);
      return;
    }
    say(
      "warning",
      "Not confirmed yet",
      "The server did not answer this log. It is kept on this tablet and sent again when " +
        "you tap Log or reload the page; it is logged only once either way."
    );
  });

  function resendPending() {
    var form = document.getElementById("log-form");
    var pending = readPending();
    if (!form || !pending || !pending.key) {
      return;
    }
    if (Date.now() - (pending.at || 0) > PENDING_MAX_AGE) {
      clearPending(pending.key);
      return;
    }
    if (pending.user !== tabletUser(form) || pending.url !== form.getAttribute("action")) {
      return; /* another nurse's, or another location's: kept for that screen */
    }
    if (!window.htmx || (pending.resends || 0) >= 3) {
      return; /* without htmx no answer would clear it: the nurse sees the last logs instead */
    }
    pending.resends = (pending.resends || 0) + 1;
    writePending(pending);
    var button = form.querySelector("button[name=action][value=log]");
    var keyInput = form.querySelector("input[name=idempotency_key]");
    if (!button || !keyInput) {
      return;
    }
    keyInput.value = pending.key;
    form.querySelectorAll("[data-qty]").forEach(function (input) {
      input.value = "";
    });
    Object.keys(pending.fields || {}).forEach(function (name) {
      var value = pending.fields[name];
      if (name === "visit") {
        document.querySelectorAll('input[name="visit"][form="log-form"]').forEach(function (radio) {
          radio.checked = radio.value === value;
        });
        return;
      }
      var input = form.querySelector('[name="' + name + '"]');
      if (!input) {
        /* the tile is gone: send it anyway, so the server says so rather than log less */
        input = document.createElement("input");
        input.type = "hidden";
        input.name = name;
        form.appendChild(input);
      }
      input.value = value;
    });
    form.querySelectorAll("[data-tile]").forEach(updateTile);
    updateSummary(form);
    say(
      "info",
      "Sending your last log again",
      "It was not confirmed before the page reloaded" +
        (pending.summary ? " (" + pending.summary + ")" : "") +
        ". It is logged once, whatever happened to the first try."
    );
    button.click();
  }

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
    /* after htmx has set the page up (it does so at DOMContentLoaded), so the resend is an
     * htmx request whose answer clears the kept log */
    if (document.readyState === "complete") {
      resendPending();
    } else {
      window.addEventListener("load", resendPending);
    }
  });
})();
