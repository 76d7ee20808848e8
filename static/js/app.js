/* ClinicOps behaviour that htmx alone does not cover.
 *
 * Loaded with the CSP nonce from base.html. Everything here is progressive: without it every
 * page and form still works as plain HTML. No inline handlers, no eval, no injected styles.
 */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", fn);
    } else {
      fn();
    }
  }

  /* Dismissible messages and toasts: any button with data-dismiss removes its parent. */
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-dismiss]");
    if (!button) {
      return;
    }
    var box = button.closest(".message, .toast");
    if (box) {
      box.remove();
    }
  });

  /* A table row with data-row-link opens its first link when clicked anywhere (touch users
   * miss small links); keyboard users still tab to the link itself. */
  document.addEventListener("click", function (event) {
    var row = event.target.closest("tr[data-row-link]");
    if (!row || event.target.closest("a, button, input, select, label")) {
      return;
    }
    if (window.getSelection && String(window.getSelection()).length > 0) {
      return; // the user is selecting text (copying an MRN), not navigating
    }
    var link = row.querySelector("a[href]");
    if (link) {
      link.click();
    }
  });

  /* Live search: the input's hx-trigger ("input changed delay:250ms, search") does the work.
   * Enter submits the form; with htmx present, turn that into the input's own "search" event
   * so results swap in place (browsers without a native search event, like Firefox, need it). */
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-live-search]");
    if (!form || !window.htmx) {
      return;
    }
    var input = form.querySelector("input[type=search]");
    if (!input) {
      return;
    }
    event.preventDefault();
    if (!("onsearch" in input)) {
      input.dispatchEvent(new Event("search", { bubbles: true }));
    }
  });

  /* After a swap of search results, say the result count to screen readers through the
   * persistent live region (a freshly inserted live region is often not announced). */
  document.addEventListener("htmx:afterSwap", function (event) {
    var status = document.getElementById("results-status");
    var summary = document.querySelector("[data-results-summary]");
    if (status) {
      status.textContent = summary ? summary.textContent.replace(/\s+/g, " ").trim() : "";
    }
  });

  /* Paging links (older / newer) are replaced by the page they load: keep the keyboard on
   * the same link in the new page, or on the results summary when that link is gone. */
  document.addEventListener("htmx:afterSwap", function (event) {
    var link = event.detail.requestConfig && event.detail.requestConfig.elt;
    var which = link && link.getAttribute ? link.getAttribute("data-page-link") : null;
    if (!which) {
      return;
    }
    var same = document.querySelector('[data-page-link="' + which + '"]');
    var summary = document.getElementById("audit-summary");
    var target = same || summary;
    if (target) {
      target.focus();
    }
  });

  /* Errors htmx does not swap (4xx/5xx, network down) get a visible, announced toast
   * instead of a silent failure. */
  function toast(text) {
    var region = document.getElementById("toast-region");
    if (!region) {
      return;
    }
    var box = document.createElement("div");
    box.className = "toast";
    var p = document.createElement("p");
    p.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "message__close";
    close.setAttribute("data-dismiss", "");
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "\u00d7";
    box.appendChild(p);
    box.appendChild(close);
    region.replaceChildren(box);
    window.setTimeout(function () {
      box.remove();
    }, 10000);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (status === 403) {
      toast("You do not have access to that. Ask your clinic's administrator if you need it.");
    } else if (status === 404) {
      toast("That record was not found. It may have been removed, or belong to another clinic.");
    } else {
      toast("Something went wrong on our side (error " + status + "). Please try again.");
    }
  });

  document.addEventListener("htmx:sendError", function () {
    toast("Cannot reach ClinicOps. Check the network connection and try again.");
  });

  /* Move focus to an error summary or alert marked data-autofocus, so keyboard and screen
   * reader users land on what went wrong after a form is sent back. */
  ready(function () {
    var target = document.querySelector("[data-autofocus]");
    if (target) {
      target.focus();
    }
  });
})();
