// Copy buttons (admin pages): a button with data-copy="<id>" copies that field's text.
// Without this script the buttons stay hidden and the fields can be selected by hand.
(function () {
  "use strict";
  function say(button, text) {
    var status = button.closest("section").querySelector(".copy-status");
    if (status) status.textContent = text;
  }
  function copy(button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) return;
    var done = function () { say(button, "Copied to the clipboard."); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () {
        field.select(); say(button, "Selected: press Ctrl+C (or ⌘C) to copy.");
      });
    } else {
      field.select();
      try { document.execCommand("copy"); done(); } catch (e) { say(button, "Selected: press Ctrl+C (or ⌘C) to copy."); }
    }
  }
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { copy(button); });
  });
})();
