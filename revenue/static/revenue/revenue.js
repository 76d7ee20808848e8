// Charge entry: a code picked from the search results goes into its input (keyboard-first:
// Enter on a result picks it and returns focus to the input).
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-pick-code]");
  if (!button) return;
  var list = button.closest("[data-code-results]");
  var input = document.getElementById(list.getAttribute("data-code-results"));
  if (!input) return;
  var code = button.getAttribute("data-pick-code");
  if (input.getAttribute("data-append") === "true") {
    var parts = input.value.trim() ? input.value.trim().split(/[\s,;]+/) : [];
    if (parts.length && !/\d/.test(parts[parts.length - 1].slice(1, 3))) parts.pop();
    if (parts.indexOf(code) === -1) parts.push(code);
    input.value = parts.join(" ") + " ";
  } else {
    input.value = code;
  }
  list.innerHTML = "";
  input.focus();
});
