// Frontdesk chat widget. Embed with:
//   <script src="https://help.example.com/widget.js" data-inbox="support" async></script>
// Plain JavaScript, no build step; it talks to the server that served it and to nobody
// else. No eval, no inline handlers or styles (its look lives in a constructed stylesheet
// of its own shadow root), so it runs under a strict Content-Security-Policy.
// The wire protocol is documented in connectors/webchat/protocol.py.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src || window.__frontdeskChat) return;
  window.__frontdeskChat = true;
  var base = new URL(script.src);
  var inbox = script.getAttribute("data-inbox") || "";
  var storeKey = "frontdesk-chat:" + base.origin + ":" + inbox;
  var socketUrl = (base.protocol === "https:" ? "wss://" : "ws://") + base.host +
    "/chat/socket?inbox=" + encodeURIComponent(inbox);

  var CSS = [
    ":host { all: initial; }",
    ".fd { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif; color: #1b1f24; }",
    ".fd *, .fd *::before { box-sizing: border-box; }",
    ".launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; border: 0; border-radius: 999px;",
    "  background: #0b5cad; color: #fff; font: inherit; font-weight: 600; padding: 12px 20px; cursor: pointer;",
    "  box-shadow: 0 4px 14px rgba(0,0,0,.25); }",
    ".launcher:focus-visible, button:focus-visible, textarea:focus-visible, input:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }",
    ".panel { position: fixed; right: 20px; bottom: 80px; z-index: 2147483000; width: 360px; max-width: calc(100vw - 24px);",
    "  height: 520px; max-height: calc(100vh - 100px); display: flex; flex-direction: column; background: #fff;",
    "  border: 1px solid #d0d7de; border-radius: 10px; box-shadow: 0 10px 30px rgba(0,0,0,.2); overflow: hidden; }",
    ".panel[hidden] { display: none; }",
    "@media (max-width: 480px) { .panel { right: 12px; left: 12px; width: auto; bottom: 76px; height: calc(100vh - 96px); }",
    "  .launcher { right: 12px; bottom: 12px; } }",
    "header { display: flex; align-items: center; justify-content: space-between; gap: 8px; padding: 10px 14px; background: #0b5cad; color: #fff; }",
    "h2 { font-size: 16px; margin: 0; }",
    "header button { background: transparent; color: #fff; border: 1px solid rgba(255,255,255,.6); border-radius: 6px; padding: 2px 10px; font: inherit; cursor: pointer; }",
    ".log { flex: 1; overflow-y: auto; padding: 12px 14px; display: flex; flex-direction: column; gap: 8px; background: #f6f8fa; margin: 0; list-style: none; }",
    ".msg { max-width: 85%; padding: 8px 10px; border-radius: 10px; white-space: pre-wrap; overflow-wrap: anywhere; }",
    ".msg .who { display: block; font-size: 12px; color: #57606a; margin-bottom: 2px; }",
    ".msg.agent { align-self: flex-start; background: #fff; border: 1px solid #d0d7de; }",
    ".msg.visitor { align-self: flex-end; background: #e7f0fb; }",
    ".msg.visitor .who { text-align: right; }",
    ".msg.pending { opacity: .6; }",
    ".note { margin: 0; align-self: center; font-size: 13px; color: #57606a; text-align: center; }",
    ".status { margin: 0; min-height: 20px; padding: 0 14px; font-size: 13px; color: #57606a; background: #f6f8fa; }",
    "form { display: grid; gap: 6px; padding: 10px 14px; border-top: 1px solid #d0d7de; background: #fff; }",
    "label { font-weight: 600; font-size: 13px; }",
    "input, textarea { font: inherit; color: inherit; padding: 6px 8px; border: 1px solid #8c959f; border-radius: 6px; width: 100%; }",
    "textarea { resize: none; min-height: 60px; }",
    ".row { display: flex; gap: 8px; justify-content: flex-end; flex-wrap: wrap; }",
    ".primary { background: #0b5cad; color: #fff; border: 1px solid #0b5cad; border-radius: 6px; padding: 6px 14px; font: inherit; font-weight: 600; cursor: pointer; }",
    ".secondary { background: #fff; color: #1b1f24; border: 1px solid #d0d7de; border-radius: 6px; padding: 6px 14px; font: inherit; cursor: pointer; }",
    ".error { color: #a40e26; font-size: 13px; margin: 0; }",
    ".error:empty { display: none; }",
    ".intro { margin: 0; font-size: 14px; }",
    "[hidden] { display: none !important; }"
  ].join("\n");

  // ---- state kept across reloads and tabs
  function load() {
    try { return JSON.parse(localStorage.getItem(storeKey) || "{}") || {}; } catch (e) { return {}; }
  }
  function save(values) {
    var kept = load();
    Object.keys(values).forEach(function (k) { kept[k] = values[k]; });
    try { localStorage.setItem(storeKey, JSON.stringify(kept)); } catch (e) { /* private mode */ }
  }

  var socket = null, attempts = 0, lastSeq = 0, welcome = null, stopped = false, greeted = false;
  var pending = [];          // {client_id, text, node}: sent, not acked yet
  var seen = {};             // seq -> true
  var typingSent = 0, typingTimer = null, detailsDone = false;

  // ---- building the interface
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  var host = el("div", { "data-frontdesk-chat": inbox });
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === "function") {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  }
  var box = el("div", { "class": "fd" });
  var launcher = el("button", { "class": "launcher", type: "button", "aria-expanded": "false",
    "aria-controls": "fd-panel", hidden: "" }, "Chat with us");
  var panel = el("section", { "class": "panel", id: "fd-panel", role: "dialog",
    "aria-modal": "false", "aria-labelledby": "fd-title", hidden: "" });
  var header = el("header");
  var title = el("h2", { id: "fd-title" }, "Chat");
  var closeButton = el("button", { type: "button", "aria-label": "Close chat" }, "×");
  header.appendChild(title);
  header.appendChild(closeButton);
  var log = el("div", { "class": "log", role: "log", "aria-live": "polite", "aria-label": "Messages" });
  var status = el("p", { "class": "status", role: "status" });

  // details: name and email (before or during the chat)
  var detailsForm = el("form", { "class": "details", "aria-label": "Your details", hidden: "" });
  var detailsIntro = el("p", { "class": "intro" }, "Tell us who you are, so we can answer by email too.");
  var nameLabel = el("label", { "for": "fd-name" }, "Your name");
  var nameInput = el("input", { id: "fd-name", name: "name", type: "text", autocomplete: "name", maxlength: "200" });
  var emailLabel = el("label", { "for": "fd-email" }, "Your email");
  var emailInput = el("input", { id: "fd-email", name: "email", type: "email", autocomplete: "email", maxlength: "254" });
  var detailsError = el("p", { "class": "error", role: "alert" });
  var detailsRow = el("div", { "class": "row" });
  var skipButton = el("button", { type: "button", "class": "secondary" }, "Skip");
  var detailsButton = el("button", { type: "submit", "class": "primary" }, "Start chat");
  detailsRow.appendChild(skipButton);
  detailsRow.appendChild(detailsButton);
  [detailsIntro, nameLabel, nameInput, emailLabel, emailInput, detailsError, detailsRow]
    .forEach(function (n) { detailsForm.appendChild(n); });

  // the composer (also the "leave a message" form outside office hours)
  var composer = el("form", { "class": "composer", "aria-label": "Write a message", hidden: "" });
  var offlineIntro = el("p", { "class": "intro", hidden: "" },
    "We are away right now. Leave a message and we will answer by email.");
  var textLabel = el("label", { "for": "fd-text" }, "Message");
  var textInput = el("textarea", { id: "fd-text", name: "text", rows: "2", maxlength: "4000", required: "" });
  var composerError = el("p", { "class": "error", role: "alert" });
  var sendRow = el("div", { "class": "row" });
  var sendButton = el("button", { type: "submit", "class": "primary" }, "Send");
  sendRow.appendChild(sendButton);
  [offlineIntro, textLabel, textInput, composerError, sendRow].forEach(function (n) { composer.appendChild(n); });

  [header, log, status, detailsForm, composer].forEach(function (n) { panel.appendChild(n); });
  box.appendChild(panel);
  box.appendChild(launcher);
  root.appendChild(box);

  function mount() { if (!host.isConnected) document.body.appendChild(host); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);

  // ---- showing things
  function scrollDown() { log.scrollTop = log.scrollHeight; }

  function note(text) {
    var item = el("p", { "class": "note" }, text);
    log.appendChild(item);
    scrollDown();
  }

  function bubble(author, name, text, isPending) {
    var item = el("div", { "class": "msg " + author + (isPending ? " pending" : "") });
    item.appendChild(el("span", { "class": "who" }, name));
    item.appendChild(el("span", { "class": "text" }, text));
    log.appendChild(item);
    scrollDown();
    return item;
  }

  function offline() { return welcome && welcome.open === false; }

  function showForms() {
    var ask = welcome ? welcome.ask : "no";
    var hasDetails = welcome && welcome.email;
    var needDetails = !offline() && !detailsDone && !hasDetails && (ask === "yes" || ask === "optional");
    detailsForm.hidden = !needDetails;
    skipButton.hidden = ask === "yes";
    composer.hidden = needDetails;
    offlineIntro.hidden = !offline();
    if (offline()) {
      // outside office hours: one form with name, email and the message
      if (nameLabel.parentNode !== composer) {
        [nameLabel, nameInput, emailLabel, emailInput].forEach(function (n) { composer.insertBefore(n, textLabel); });
      }
      sendButton.textContent = "Send message";
      textLabel.textContent = "Your message";
    }
  }

  function setStatus(text) {
    status.textContent = text;
  }

  // ---- the socket
  function send(frame) {
    if (socket && socket.readyState === 1) { socket.send(JSON.stringify(frame)); return true; }
    return false;
  }

  function markRead() {
    if (!panel.hidden && document.visibilityState === "visible" && lastSeq > 0) send({ type: "read", seq: lastSeq });
  }

  function onMessage(frame) {
    if (seen[frame.seq]) return;
    seen[frame.seq] = true;
    lastSeq = Math.max(lastSeq, frame.seq);
    var waiting = null;
    pending.forEach(function (p) { if (p.client_id === frame.client_id) waiting = p; });
    if (waiting) {
      waiting.node.classList.remove("pending");
      pending = pending.filter(function (p) { return p !== waiting; });
    } else {
      bubble(frame.author, frame.author === "visitor" ? "You" : frame.name, frame.text, false);
    }
    if (frame.author === "agent") setStatus("");
    markRead();
  }

  function handle(frame) {
    if (frame.type === "welcome") {
      var first = !welcome;
      if (welcome && welcome.conversation && frame.conversation !== welcome.conversation) {
        seen = {};  // a new chat (the old one is gone): its numbers start again
        lastSeq = 0;
      }
      welcome = frame;
      save({ token: frame.token });
      title.textContent = frame.name || "Chat";
      if (first && frame.greeting && log.children.length === 0) note(frame.greeting);
      launcher.hidden = false;
      showForms();
      if (!greeted) {  // the first welcome of this socket: send again what was not acked
        greeted = true;
        pending.forEach(function (p) { send({ type: "message", client_id: p.client_id, text: p.text }); });
      }
    } else if (frame.type === "message") {
      onMessage(frame);
    } else if (frame.type === "ack") {
      pending = pending.filter(function (p) {
        if (p.client_id !== frame.client_id) return true;
        p.node.classList.remove("pending");
        return false;
      });
      if (offline()) { note("Thank you: we will answer by email."); composer.hidden = true; }
    } else if (frame.type === "typing") {
      setStatus(frame.name + " is typing…");
      clearTimeout(typingTimer);
      typingTimer = setTimeout(function () { setStatus(""); }, 6000);
    } else if (frame.type === "agent_joined") {
      note(frame.name + " joined the chat");
    } else if (frame.type === "closed") {
      note("This chat was closed. Write again to start over.");
    } else if (frame.type === "error") {
      (detailsForm.hidden ? composerError : detailsError).textContent = frame.message;
    }
  }

  function connect() {
    if (stopped) return;
    socket = new WebSocket(socketUrl);
    greeted = false;
    socket.addEventListener("open", function () {
      attempts = 0;
      send({ type: "hello", token: load().token || null, last_seq: lastSeq });
    });
    socket.addEventListener("message", function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame && typeof frame === "object") handle(frame);
    });
    socket.addEventListener("close", function (event) {
      socket = null;
      if (event.code === 4403) { stopped = true; launcher.hidden = true; panel.hidden = true; return; }
      var delay = Math.min(30000, 500 * Math.pow(2, attempts)) * (0.5 + Math.random() / 2);
      if (event.code === 4401) { save({ token: null }); delay = 0; lastSeq = 0; seen = {}; welcome = null; }
      if (event.code === 4429) delay = Math.max(delay, 30000);
      attempts += 1;
      if (welcome) setStatus("Reconnecting…");
      setTimeout(function () { setStatus(""); connect(); }, delay);
    });
  }

  // ---- what the visitor does
  var previousFocus = null;
  function openPanel() {
    previousFocus = document.activeElement;
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    var first = detailsForm.hidden ? (offline() ? nameInput : textInput) : nameInput;
    first.focus();
    markRead();
  }
  function closePanel() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  }
  launcher.addEventListener("click", function () { if (panel.hidden) openPanel(); else closePanel(); });
  closeButton.addEventListener("click", closePanel);
  panel.addEventListener("keydown", function (event) { if (event.key === "Escape") closePanel(); });

  function sendDetails() {
    var name = nameInput.value.trim(), email = emailInput.value.trim();
    if (name || email) send({ type: "details", name: name || null, email: email || null });
    return { name: name, email: email };
  }

  detailsForm.addEventListener("submit", function (event) {
    event.preventDefault();
    detailsError.textContent = "";
    var given = sendDetails();
    if (welcome && welcome.ask === "yes" && (!given.name || !given.email)) {
      detailsError.textContent = "Please give your name and email address.";
      return;
    }
    detailsDone = true;
    showForms();
    textInput.focus();
  });
  skipButton.addEventListener("click", function () { detailsDone = true; showForms(); textInput.focus(); });

  composer.addEventListener("submit", function (event) {
    event.preventDefault();
    composerError.textContent = "";
    var text = textInput.value.trim();
    if (!text) { composerError.textContent = "Write a message first."; return; }
    if (offline()) {
      var given = sendDetails();
      if (!given.email) { composerError.textContent = "Leave your email address so we can answer."; return; }
    }
    var id = Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
    var item = { client_id: id, text: text, node: bubble("visitor", "You", text, true) };
    pending.push(item);
    send({ type: "message", client_id: id, text: text });
    textInput.value = "";
    textInput.focus();
  });
  textInput.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); composer.requestSubmit(); }
  });
  textInput.addEventListener("input", function () {
    if (Date.now() - typingSent > 2500 && textInput.value.trim()) {
      typingSent = Date.now();
      send({ type: "typing" });
    }
  });
  document.addEventListener("visibilitychange", markRead);

  connect();
})();
