// The live connection (/live, see web/live/protocol.py): keeps the inbox list and its
// counts current, tells the conversation page of new messages, shows in place a message
// edited or deleted where it was written, and says who else is viewing or replying
// there. Every page works without it; it only keeps them fresh.
(function () {
  "use strict";

  var body = document.body;
  if (!body || !body.dataset.userId || !window.WebSocket || !window.fetch) return;

  var PRESENCE_MS = 20000;        // protocol.PRESENCE_SECONDS: renew a claim this often
  var FORGET_MS = 2 * PRESENCE_MS; // forget a colleague's claim not renewed within this
  var TYPING_MS = 30000;           // replying: typed in the reply editor this recently
  var REFRESH_DELAY_MS = 300;      // events within this are answered by one refresh
  // SLA clocks count down: what the page shows is read again this often (the server says
  // how much is left, in working time where the goal runs in working hours).
  var TICK_MS = window.FRONTDESK_TICK_MS || 60000;

  var layout = document.querySelector("[data-conversation-id]");
  var conversationId = layout ? Number(layout.dataset.conversationId) : null;
  var onInbox = body.classList.contains("page-inbox");
  var socket = null;
  var attempts = 0;
  var opened = false;

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  }

  function fetchPage(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok || response.redirected) throw new Error("page not available");
        return response.text();
      })
      .then(function (html) { return new DOMParser().parseFromString(html, "text/html"); });
  }

  // ---- The inbox: the list and the view counts, fetched again (the page's own URL).
  var refreshing = false;
  var again = false;
  var refreshTimer = null;

  var stale = false;  // something changed while the tab was hidden

  function scheduleRefresh() {
    if (!onInbox) return;
    if (document.hidden) { stale = true; return; }  // no work for a tab nobody looks at
    if (refreshTimer) return;
    refreshTimer = setTimeout(function () { refreshTimer = null; refreshInbox(); },
                              REFRESH_DELAY_MS);
  }

  function refreshInbox() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    fetchPage(location.href).then(swapInbox).catch(function () { /* next event tries again */ })
      .then(function () {
        refreshing = false;
        if (again) { again = false; refreshInbox(); }
      });
  }

  function swapInbox(doc) {
    var rows = document.getElementById("rows");
    var fresh = doc.getElementById("rows");
    if (rows && fresh) {
      var checked = {};
      rows.querySelectorAll("input[name=conversation_ids]:checked").forEach(function (box) {
        checked[box.value] = true;
      });
      var cursor = rows.querySelector("tr.row.cursor");
      var cursorId = cursor ? cursor.dataset.id : null;
      var focusedId = rows.contains(document.activeElement) && document.activeElement.closest("tr.row")
        ? document.activeElement.closest("tr.row").dataset.id : null;
      rows.replaceWith(fresh);
      fresh.querySelectorAll("input[name=conversation_ids]").forEach(function (box) {
        if (checked[box.value]) box.checked = true;
      });
      if (cursorId) {
        var row = fresh.querySelector("tr.row[data-id='" + cursorId + "']");
        if (row) row.classList.add("cursor");
      }
      if (focusedId) {
        var link = fresh.querySelector("tr.row[data-id='" + focusedId + "'] a.subject");
        if (link) link.focus();
      }
    }
    var rail = document.querySelector("nav.rail");
    var freshRail = doc.querySelector("nav.rail");
    if (rail && freshRail) rail.innerHTML = freshRail.innerHTML;
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && stale) { stale = false; scheduleRefresh(); }
  });

  // ---- The conversation: a banner when a message arrived, which shows it in place
  // (the reply being written stays as it is).
  var newest = layout ? Number(layout.dataset.newestMessage || 0) : 0;
  var pending = null;

  function checkForMessages() {
    fetchPage("/conversations/" + conversationId).then(function (doc) {
      var freshLayout = doc.querySelector("[data-conversation-id]");
      if (!freshLayout || Number(freshLayout.dataset.newestMessage || 0) <= newest) return;
      pending = doc;
      showBanner();
    }).catch(function () { /* gone or out of scope: nothing to show */ });
  }

  // The banner's live region is in the page from the start (empty), so that screen
  // readers announce what is put in it later.
  var banner = null;
  if (layout) {
    banner = document.createElement("div");
    banner.id = "live-banner";
    banner.className = "live-banner";
    banner.setAttribute("role", "status");
    var thread = document.querySelector("ol.thread");
    if (thread) thread.parentNode.insertBefore(banner, thread);
  }

  function showBanner() {
    if (!banner || banner.firstChild) return;
    var text = document.createElement("span");
    text.textContent = "New message in this conversation";
    var show = document.createElement("button");
    show.type = "button";
    show.className = "secondary";
    show.textContent = "Show";
    show.setAttribute("aria-label", "Show new messages");
    show.addEventListener("click", showNewMessages);
    banner.appendChild(text);
    banner.appendChild(show);
  }

  function showNewMessages() {
    if (banner) banner.textContent = "";
    if (!pending) return;
    var doc = pending;
    pending = null;
    var thread = document.querySelector("ol.thread");
    var freshThread = doc.querySelector("ol.thread");
    var freshLayout = doc.querySelector("[data-conversation-id]");
    if (!thread || !freshThread || !freshLayout) return;
    var before = newest;
    thread.replaceWith(freshThread);
    newest = Number(freshLayout.dataset.newestMessage || 0);
    layout.dataset.newestMessage = String(newest);
    // The agent has now seen these: a reply sent after this does not ask again.
    document.querySelectorAll("input[name=seen_message_id]").forEach(function (input) {
      input.value = String(newest);
    });
    var first = null;
    freshThread.querySelectorAll("li.message").forEach(function (item) {
      if (Number(item.id.replace("message-", "")) > before) {
        item.classList.add("is-new");
        if (!first) first = item;
      }
    });
    if (first) {
      first.tabIndex = -1;
      first.focus();
    }
  }

  // A message changed where it was written (edited or deleted in Slack): read again and
  // put in place; the rest of the page (a reply being written) stays as it is.
  function refreshMessage(messageId) {
    var id = "message-" + Number(messageId);
    if (!document.getElementById(id)) return;
    fetchPage("/conversations/" + conversationId).then(function (doc) {
      var here = document.getElementById(id);
      var fresh = doc.getElementById(id);
      if (!here || !fresh || here.contains(document.activeElement)) return;
      if (here.classList.contains("is-new")) fresh.classList.add("is-new");
      here.replaceWith(fresh);
    }).catch(function () { /* gone or out of scope: the next visit says so */ });
  }

  // ---- A chat: a new message goes straight into the thread when the agent sees the
  // thread's end (then it is scrolled into view, unless they are writing), rendered by
  // the page's own template (/conversations/<id>/thread?after=<newest>). Anywhere else
  // (an email, or a chat the agent scrolled up in) it waits behind the banner, so that
  // what the agent reads does not move under them.
  var isChat = layout ? layout.dataset.channel === "chat" : false;
  var inserting = false;
  var insertAgain = false;
  // Said to screen readers when a message goes into the thread (in the page from the
  // start, empty, so that what is put in it later is announced).
  var told = null;
  if (isChat) {
    told = document.createElement("p");
    told.id = "live-told";
    told.className = "visually-hidden";
    told.setAttribute("role", "status");
    document.body.appendChild(told);
  }

  function seesThreadEnd() {
    var thread = document.querySelector("ol.thread");
    var last = thread ? thread.lastElementChild : null;
    return !last || last.getBoundingClientRect().bottom <= window.innerHeight + 2;
  }

  function onNewMessage() {
    if (!isChat || pending || (banner && banner.firstChild) || !seesThreadEnd()) {
      checkForMessages();
      return;
    }
    if (inserting) { insertAgain = true; return; }
    inserting = true;
    fetchPage("/conversations/" + conversationId + "/thread?after=" + newest)
      .then(insertMessages)
      .catch(function () { checkForMessages(); })
      .then(function () {
        inserting = false;
        if (insertAgain) { insertAgain = false; onNewMessage(); }
      });
  }

  function insertMessages(doc) {
    var thread = document.querySelector("ol.thread");
    var fresh = doc.querySelector("ol.thread");
    if (!thread || !fresh) return;
    var writing = document.activeElement && document.activeElement.closest(".composer");
    var last = null;
    var visitorWrote = false;
    fresh.querySelectorAll("li.message").forEach(function (item) {
      if (document.getElementById(item.id)) return;  // already shown
      var adopted = document.importNode(item, true);
      thread.appendChild(adopted);
      last = adopted;
      if (adopted.classList.contains("kind-inbound")) visitorWrote = true;
    });
    newest = Math.max(newest, Number(fresh.dataset.newestMessage || 0));
    layout.dataset.newestMessage = String(newest);
    // Shown in the thread the agent is looking at: a reply sent now does not ask again.
    document.querySelectorAll("input[name=seen_message_id]").forEach(function (input) {
      input.value = String(newest);
    });
    if (visitorWrote && others.visitor) {  // what they typed has arrived
      delete others.visitor;
      renderPresence();
    }
    if (last && !writing) last.scrollIntoView({ block: "nearest" });
    var author = last ? last.querySelector(".author") : null;
    if (told && author) told.textContent = "New message from " + author.textContent;
  }

  // ---- The conversation's details (status, owner, the ticket card), changed elsewhere:
  // read again and put in place, except a part the agent is working in.
  var DETAILS = ["p.meta", ".conv-actions", "aside.side"];

  function refreshDetails() {
    fetchPage("/conversations/" + conversationId).then(function (doc) {
      DETAILS.forEach(function (selector) {
        var here = document.querySelector(selector);
        var fresh = doc.querySelector(selector);
        if (!here || !fresh || here.contains(document.activeElement)) return;
        here.replaceWith(fresh);
      });
    }).catch(function () { /* gone or out of scope: the next visit says so */ });
  }

  setInterval(function () {
    if (document.hidden) return;
    if (conversationId) refreshDetails();
    else scheduleRefresh();
  }, TICK_MS);

  // ---- Presence: what this agent does here, and what the others do.
  var state = "viewing";
  var typedAt = 0;
  var others = {};  // user id -> {name, state, at}

  function claim() {
    if (conversationId) send({ type: state, conversation_id: conversationId });
  }

  function setState(next) {
    if (next === state) return;
    state = next;
    claim();
  }

  function renderPresence() {
    var place = document.getElementById("presence");
    if (!place) return;
    var now = Date.now();
    var parts = [];
    Object.keys(others).sort().forEach(function (id) {
      var who = others[id];
      if (now - who.at > (who.state === "typing" ? 8000 : FORGET_MS)) { delete others[id]; return; }
      parts.push(who.name + " is " + who.state);
    });
    var text = parts.join(" · ");
    if (place.textContent !== text) place.textContent = text;
  }

  function onPresence(frame) {
    if (frame.conversation_id !== conversationId) return;
    if (frame.state === "left") delete others[frame.user_id];
    else others[frame.user_id] = { name: frame.name || "Someone", state: frame.state, at: Date.now() };
    renderPresence();
  }

  if (conversationId) {
    document.addEventListener("input", function (event) {
      if (event.target && event.target.id === "reply-text") {
        typedAt = Date.now();
        setState(event.target.value.trim() ? "replying" : "viewing");
      }
    });
    setInterval(function () {
      var editor = document.getElementById("reply-text");
      if (state === "replying" && (Date.now() - typedAt > TYPING_MS || !editor || !editor.value.trim())) {
        setState("viewing");
      }
      renderPresence();
    }, 5000);
    setInterval(claim, PRESENCE_MS);
    window.addEventListener("pagehide", function () { send({ type: "left" }); });
  }

  // ---- The bell: its unread count, read again when a notification arrives.
  function refreshBell() {
    var bell = document.querySelector("a.bell");
    if (!bell) return;
    fetch("/api/notifications?limit=1", { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) {
        if (!answer || typeof answer.unread !== "number") return;
        var unread = answer.unread;
        bell.setAttribute("aria-label", "Notifications, " + unread + " unread");
        bell.classList.toggle("has-unread", unread > 0);
        var badge = bell.querySelector(".badge");
        if (unread > 0 && !badge) {
          badge = document.createElement("span");
          badge.className = "badge";
          badge.setAttribute("aria-hidden", "true");
          bell.appendChild(badge);
        }
        if (badge) {
          if (unread > 0) badge.textContent = String(unread);
          else badge.remove();
        }
      })
      .catch(function () { /* the next notification tries again */ });
  }

  // ---- The socket.
  function handle(frame) {
    if (frame.type === "conversation") {
      scheduleRefresh();
      if (conversationId && frame.conversation_id === conversationId) {
        if (frame.change === "message" || frame.change === "opened") onNewMessage();
        else if (frame.change === "amended") refreshMessage(frame.message_id);
        else refreshDetails();
      }
    } else if (frame.type === "notification") {
      refreshBell();
    } else if (frame.type === "presence") {
      onPresence(frame);
    } else if (frame.type === "typing") {  // a chat visitor is typing
      onPresence({ conversation_id: frame.conversation_id, user_id: "visitor",
                   name: frame.name || "The visitor", state: "typing" });
    } else if (frame.type === "reload") {
      scheduleRefresh();
      if (conversationId) checkForMessages();
    }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/live");
    socket.addEventListener("open", function () {
      attempts = 0;
      body.dataset.live = "open";
      claim();
      if (opened) {  // whatever happened while the socket was down
        scheduleRefresh();
        if (conversationId) checkForMessages();
      }
      opened = true;
    });
    socket.addEventListener("message", function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (error) { return; }
      if (frame && typeof frame === "object") handle(frame);
    });
    socket.addEventListener("close", function (event) {
      body.dataset.live = "closed";
      socket = null;
      if (event.code === 4401) return;  // logged out: the next page asks to log in
      var delay = Math.min(30000, 500 * Math.pow(2, attempts)) * (0.5 + Math.random() / 2);
      attempts += 1;
      setTimeout(connect, delay);
    });
  }

  connect();
})();
