// Frontdesk's one script: keyboard shortcuts, small conveniences, and the live socket.
// Every page works without it; it only makes them quicker.
(function () {
  "use strict";

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  // Selects marked data-autosubmit submit their form on change.
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("select[data-autosubmit]")) {
      target.form.requestSubmit();
    }
    if (target.id === "select-all") {
      document.querySelectorAll("input[name=conversation_ids]").forEach(function (box) {
        box.checked = target.checked;
      });
    }
  });

  // The inbox list: j / k move, Enter (or o) opens, x selects.
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr.row")); }
  function current() { return document.querySelector("tr.row.cursor"); }
  function move(step) {
    var all = rows();
    if (!all.length) return;
    var index = all.indexOf(current());
    var next = all[Math.max(0, Math.min(all.length - 1, index + step))] || all[0];
    all.forEach(function (row) { row.classList.remove("cursor"); });
    next.classList.add("cursor");
    var link = next.querySelector("a.subject");
    if (link) link.focus();
  }

  var actions = {
    "j": function () { move(1); },
    "k": function () { move(-1); },
    "x": function () {
      var row = current();
      var box = row && row.querySelector("input[name=conversation_ids]");
      if (box) box.checked = !box.checked;
    },
    "/": function () { var search = document.getElementById("search"); if (search) search.focus(); },
    "r": function () { focusEditor("reply"); },
    "c": function () { focusEditor("comment"); },
    "e": function () { var close = document.getElementById("close-conversation"); if (close) close.click(); },
    "Enter": function () {
      var row = current();
      if (row && document.activeElement === document.body) window.location = row.dataset.href;
    }
  };

  function focusEditor(kind) {
    var tab = document.getElementById("tab-" + kind);
    if (tab) tab.click();
    var editor = document.getElementById(kind + "-text");
    if (editor) editor.focus();
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var action = actions[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });

  // A click anywhere on a row opens its conversation (the subject is the real link).
  document.addEventListener("click", function (event) {
    var row = event.target.closest && event.target.closest("tr.row");
    if (!row || event.target.closest("a, input, button, label")) return;
    window.location = row.dataset.href;
  });

  // Reply / comment tabs (both forms show without a script).
  document.addEventListener("click", function (event) {
    var tab = event.target.closest && event.target.closest("[role=tab]");
    if (!tab) return;
    var list = tab.closest("[role=tablist]");
    list.querySelectorAll("[role=tab]").forEach(function (other) {
      var selected = other === tab;
      other.setAttribute("aria-selected", selected ? "true" : "false");
      other.tabIndex = selected ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
    });
  });
  // A message's HTML frame grows to its content (the frame runs no script; the page may
  // read its size because it is this server's document).
  function fit(frame) {
    try {
      var doc = frame.contentDocument;
      if (doc && doc.documentElement) {
        frame.style.height = "0px";  // else the document is never shorter than the frame
        frame.style.height = Math.min(4000, doc.documentElement.scrollHeight + 4) + "px";
      }
    } catch (error) { /* not ours to measure: keep the fixed height */ }
  }
  document.addEventListener("load", function (event) {
    if (event.target.matches && event.target.matches("iframe.html-body")) fit(event.target);
  }, true);

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("iframe.html-body").forEach(fit);
    document.querySelectorAll("[role=tablist]").forEach(function (list) {
      var first = list.querySelector("[role=tab]");
      if (first) first.click();
    });
    // On a narrow screen the rail scrolls sideways: bring the current entry into view.
    var here = document.querySelector(".rail a[aria-current=page]");
    var rail = here && here.closest(".rail");
    if (rail && rail.scrollWidth > rail.clientWidth) {
      rail.scrollLeft = here.offsetLeft - (rail.clientWidth - here.offsetWidth) / 2;
    }
  });
})();

// Canned replies: "Insert" puts the chosen reply's text into the reply editor at the
// cursor, keeping what is written (without a script the form reloads the page with it).
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-snippet-form]")) return;
    var select = document.getElementById("snippet");
    var editor = document.getElementById("reply-text");
    var option = select && select.selectedOptions[0];
    if (!editor || !option || !option.dataset.text) return;
    event.preventDefault();
    var start = editor.selectionStart, end = editor.selectionEnd, text = option.dataset.text;
    editor.value = editor.value.slice(0, start) + text + editor.value.slice(end);
    editor.focus();
    editor.setSelectionRange(start + text.length, start + text.length);
  });
})();
