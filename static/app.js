// parley's web client, built on the SDK. The token comes from the URL
// fragment (#token=…), which the browser never sends to the server; it is
// kept in sessionStorage and removed from the address bar.
import { ParleyClient } from "/sdk/parley.js";

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...kids) => {
  const e = Object.assign(document.createElement(tag), props);
  for (const k of kids) if (k !== null && k !== undefined && k !== false) e.append(k);
  return e;
};
const QUICK_REACTIONS = ["👍", "❤️", "😂", "🎉", "😮", "👀"];

let meeting, chat;
const state = {
  reply: null, // message being replied to
  edit: null, // message being edited
  lastRead: new Map(), // userId -> id of the last message they read
  names: new Map(), // userId -> display name
  loadingOlder: false,
  noOlder: false,
  typingSent: 0,
  limitTimer: null,
};

function token() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    sessionStorage.setItem("parley.token", fromHash);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return fromHash || sessionStorage.getItem("parley.token");
}

function fmtSize(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
const fmtTime = (t) => new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
const nameOf = (id) => state.names.get(id) || meeting?.participants.joined.get(id)?.name || "someone";
const summary = (m) => m.type === "text" ? m.message : m.type === "image" ? "🖼 image" : `📄 ${m.name}`;
const canChange = (m) => m.userId === meeting.self.id || meeting.self.preset_name === "host";

function banner(text) {
  $("banner").textContent = text || "";
  $("banner").hidden = !text;
}

// --- rendering ---

function renderMessage(m) {
  state.names.set(m.userId, m.displayName);
  const mine = m.userId === meeting.self.id;
  const li = el("li", { className: "msg" + (mine ? " mine" : "") + (m.targetUserIds?.length ? " private" : ""), tabIndex: 0 });
  li.dataset.id = m.id;
  const meta = el("div", { className: "meta" }, el("b", { textContent: m.displayName }), el("time", { dateTime: m.time, textContent: fmtTime(m.time) }));
  if (m.targetUserIds?.length) meta.append(el("span", { textContent: "🔒 to " + m.targetUserIds.filter((t) => t !== meeting.self.id).map(nameOf).join(", ") || "you" }));
  if (m.isEdited) meta.append(el("span", { textContent: "edited" }));
  if (m.pinned) meta.append(el("span", { className: "pin", textContent: "📌 pinned" }));
  li.append(meta);
  if (m.replyTo) {
    const orig = chat.messages.find((x) => x.id === m.replyTo);
    li.append(el("div", { className: "quote", textContent: orig ? `${orig.displayName}: ${summary(orig)}` : "a message" }));
  }
  if (m.type === "image") {
    const btn = el("button", { className: "thumb", type: "button", title: "Show full size" }, el("img", { src: m.thumbnail || m.link, alt: "image from " + m.displayName, width: Math.min(m.width, 320), loading: "lazy" }));
    btn.onclick = () => { $("viewer-img").src = m.link; $("viewer").showModal(); };
    li.append(btn);
  } else if (m.type === "file") {
    li.append(el("a", { className: "file", href: m.link, download: m.name }, el("span", { className: "icon", textContent: "📄" }), el("span", {}, el("div", { textContent: m.name }), el("div", { className: "muted", textContent: fmtSize(m.size) }))));
  } else {
    li.append(el("div", { className: "body", textContent: m.message }));
  }
  if (m.reactions?.length) {
    const counts = new Map();
    for (const r of m.reactions) {
      const c = counts.get(r.reaction) || { n: 0, own: null, who: [] };
      c.n++; c.who.push(nameOf(r.userId));
      if (r.userId === meeting.self.id) c.own = r.reactionId;
      counts.set(r.reaction, c);
    }
    const bar = el("div", { className: "reactions" });
    for (const [emoji, c] of counts) {
      const b = el("button", { type: "button", className: c.own ? "own" : "", textContent: `${emoji} ${c.n}`, title: c.who.join(", ") });
      b.onclick = () => act(c.own ? chat.removeReaction(c.own) : chat.addReaction(m.id, emoji));
      bar.append(b);
    }
    li.append(bar);
  }
  li.append(actionsFor(m));
  if (mine) li.append(el("div", { className: "seen" }));
  return li;
}

function actionsFor(m) {
  const bar = el("div", { className: "actions", role: "toolbar", ariaLabel: "Message actions" });
  const add = (label, title, fn) => { const b = el("button", { type: "button", textContent: label, title, ariaLabel: title }); b.onclick = fn; bar.append(b); };
  add("↩", "Reply", () => setContext("reply", m));
  for (const e of QUICK_REACTIONS.slice(0, 3)) add(e, "React " + e, () => act(chat.addReaction(m.id, e)));
  add(m.pinned ? "Unpin" : "Pin", m.pinned ? "Unpin" : "Pin", () => act(m.pinned ? chat.unpin(m.id) : chat.pin(m.id)));
  if (canChange(m) && m.type === "text") add("✎", "Edit", () => setContext("edit", m));
  if (canChange(m)) add("🗑", "Delete", () => { if (confirm("Delete this message for everyone?")) act(chat.deleteMessage(m.id)); });
  return bar;
}

function atBottom() {
  const list = $("messages");
  return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
}

function upsert(m) {
  const list = $("messages");
  const stick = atBottom();
  const old = list.querySelector(`[data-id="${CSS.escape(m.id)}"]`);
  const li = renderMessage(m);
  if (old) old.replaceWith(li);
  else list.append(li);
  if (stick || m.userId === meeting.self.id) list.scrollTop = list.scrollHeight;
}

function renderAll() {
  const list = $("messages");
  list.replaceChildren(...chat.messages.map(renderMessage));
  list.scrollTop = list.scrollHeight;
  renderSeen();
  renderPinned();
}

function renderSeen() {
  const ids = chat.messages.map((m) => m.id);
  for (const li of $("messages").querySelectorAll(".msg.mine")) {
    const at = ids.indexOf(li.dataset.id);
    const who = [];
    for (const [user, id] of state.lastRead) if (user !== meeting.self.id && ids.indexOf(id) >= at) who.push(nameOf(user));
    li.querySelector(".seen").textContent = who.length ? "Seen by " + who.join(", ") : "";
  }
}

function renderPinned() {
  $("pinned-count").textContent = chat.pinned.length;
  $("pinned").replaceChildren(...chat.pinned.map((m) => miniItem(m)));
}

function miniItem(m) {
  const b = el("button", { type: "button" }, el("b", { textContent: m.displayName + ": " }), summary(m));
  b.onclick = () => {
    const li = $("messages").querySelector(`[data-id="${CSS.escape(m.id)}"]`);
    if (li) { li.scrollIntoView({ block: "center" }); li.classList.add("flash"); li.focus(); }
  };
  return el("li", {}, b);
}

function renderPeople() {
  const people = meeting.participants.joined.toArray();
  $("online-count").textContent = people.length;
  $("people").replaceChildren(...people.map((p) => {
    state.names.set(p.id, p.name);
    const li = el("li", {}, el("span", { textContent: p.name + (p.id === meeting.self.id ? " (you)" : "") }));
    if (p.id !== meeting.self.id) {
      const b = el("button", { type: "button", textContent: "Message", title: "Private message to " + p.name });
      b.onclick = () => { $("to").value = p.id; $("text").focus(); };
      li.append(b);
    }
    return li;
  }));
  const to = $("to");
  const current = to.value;
  to.replaceChildren(el("option", { value: "", textContent: "Everyone" }), ...people.filter((p) => p.id !== meeting.self.id).map((p) => el("option", { value: p.id, textContent: "🔒 " + p.name })));
  if ([...to.options].some((o) => o.value === current)) to.value = current;
}

function renderTyping() {
  const names = [...chat.typing].filter((id) => id !== meeting.self.id).map(nameOf);
  $("typing").textContent = names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : `${names.join(", ")} are typing…`;
}

// --- actions ---

async function act(promise) {
  try {
    return await promise;
  } catch (e) {
    if (e.code === "rate_limited") rateLimited(e.retryAfterMs);
    else banner(`${e.code}: ${e.message}`), setTimeout(() => banner(meeting.connected ? "" : "Reconnecting…"), 4000);
  }
}

function rateLimited(ms) {
  const until = Date.now() + (ms || 1000);
  $("send").disabled = true;
  const p = $("ratelimit");
  p.hidden = false;
  clearInterval(state.limitTimer);
  const tick = () => {
    const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
    p.textContent = `You're sending too fast. You can send again in ${left} s.`;
  };
  tick();
  state.limitTimer = setInterval(tick, 250);
}

function rateLimitOver() {
  clearInterval(state.limitTimer);
  $("send").disabled = false;
  $("ratelimit").hidden = true;
}

function setContext(kind, m) {
  state.reply = kind === "reply" ? m : null;
  state.edit = kind === "edit" ? m : null;
  $("context").hidden = !m;
  if (!m) return;
  $("context-text").textContent = (kind === "reply" ? `Replying to ${m.displayName}: ` : "Editing: ") + summary(m);
  if (kind === "edit") $("text").value = m.message;
  $("text").focus();
}

async function submit(ev) {
  ev.preventDefault();
  const text = $("text").value.trim();
  if (!text || $("send").disabled) return;
  const to = $("to").value ? [$("to").value] : undefined;
  let ok;
  if (state.edit) ok = await act(chat.editTextMessage(state.edit.id, text));
  else if (state.reply) ok = await act(chat.replyToMessage(state.reply.id, text, to));
  else ok = await act(chat.sendTextMessage(text, to));
  if (ok) {
    $("text").value = "";
    setContext(null);
    state.typingSent = 0;
    chat.stopTyping().catch(() => {});
  }
}

async function sendFiles(files) {
  const to = $("to").value ? [$("to").value] : undefined;
  for (const f of files) {
    const image = /^image\/(png|jpeg|gif|webp)$/.test(f.type);
    await act(image ? chat.sendImageMessage(f, to) : chat.sendFileMessage(f, to));
  }
}

async function loadOlder() {
  if (state.loadingOlder || state.noOlder || chat.messages.length === 0) return;
  state.loadingOlder = true;
  const list = $("messages");
  const before = list.scrollHeight;
  try {
    const older = await chat.fetchMessages({ timestamp: Date.parse(chat.messages[0].time), limit: 25, direction: "before" });
    if (older.length < 25) state.noOlder = true;
    for (const m of [...older].reverse()) list.prepend(renderMessage(m));
    list.scrollTop += list.scrollHeight - before;
  } finally {
    state.loadingOlder = false;
  }
}

function markRead() {
  const last = chat.messages.at(-1);
  if (!last || document.hidden || state.lastRead.get(meeting.self.id) === last.id) return;
  state.lastRead.set(meeting.self.id, last.id);
  chat.markAsRead(last.id).catch(() => {});
}

async function search(ev) {
  ev.preventDefault();
  const q = $("search").value.trim();
  if (!q) return;
  const found = await act(chat.searchMessages(q));
  $("results").replaceChildren(...(found || []).map(miniItem));
  if (found && found.length === 0) $("results").append(el("li", { className: "muted", textContent: "Nothing found." }));
}

function togglePanel(name) {
  const side = $("side");
  const open = side.hidden || side.dataset.open !== name;
  side.hidden = !open;
  side.dataset.open = open ? name : "";
  for (const s of side.querySelectorAll("section")) s.hidden = s.dataset.panel !== name;
  for (const b of document.querySelectorAll(".tabs button")) b.setAttribute("aria-pressed", String(open && b.dataset.panel === name));
  if (open && name === "search") $("search").focus();
}

// --- wiring ---

function wire() {
  $("composer").addEventListener("submit", submit);
  $("text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("composer").requestSubmit(); }
    if (e.key === "Escape") { setContext(null); $("text").value = ""; }
  });
  $("text").addEventListener("input", () => {
    if (Date.now() - state.typingSent > 3000 && $("text").value) {
      state.typingSent = Date.now();
      chat.startTyping().catch(() => {});
    }
  });
  $("context-cancel").onclick = () => setContext(null);
  $("attach").onclick = () => $("file").click();
  $("file").onchange = () => { sendFiles([...$("file").files]); $("file").value = ""; };
  const chatEl = document.querySelector(".chat");
  chatEl.addEventListener("dragover", (e) => { e.preventDefault(); $("drop").hidden = false; });
  $("drop").addEventListener("dragleave", () => { $("drop").hidden = true; });
  chatEl.addEventListener("drop", (e) => { e.preventDefault(); $("drop").hidden = true; sendFiles([...e.dataTransfer.files]); });
  $("text").addEventListener("paste", (e) => {
    const files = [...(e.clipboardData?.files || [])];
    if (files.length) { e.preventDefault(); sendFiles(files); }
  });
  $("messages").addEventListener("scroll", () => { if ($("messages").scrollTop < 60) loadOlder(); });
  for (const b of document.querySelectorAll(".tabs button")) b.onclick = () => togglePanel(b.dataset.panel);
  $("search-form").addEventListener("submit", search);
  document.addEventListener("visibilitychange", markRead);
  window.addEventListener("focus", markRead);

  chat.on("chatUpdate", ({ message, action }) => {
    if (!message) return renderAll();
    if (action === "delete") $("messages").querySelector(`[data-id="${CSS.escape(message.id)}"]`)?.remove();
    else upsert(message);
    renderPinned();
    renderSeen();
    markRead();
  });
  chat.on("pinMessage", ({ message }) => { upsert(message); renderPinned(); });
  chat.on("unpinMessage", ({ message }) => { upsert(message); renderPinned(); });
  chat.on("messageSeen", ({ messageId, userId }) => { state.lastRead.set(userId, messageId); renderSeen(); });
  chat.on("typingStarted", renderTyping);
  chat.on("typingStopped", renderTyping);
  chat.on("rateLimitReset", ({ kind }) => { if (kind === "messages") rateLimitOver(); });
  meeting.participants.joined.on("participantJoined", renderPeople);
  meeting.participants.joined.on("participantLeft", renderPeople);
  meeting.on("reconnecting", () => { banner("Reconnecting…"); $("status").textContent = "reconnecting…"; });
  meeting.on("reconnected", () => { banner(""); $("status").textContent = "as " + meeting.self.name; renderPeople(); });
  meeting.on("resumed", ({ recovered }) => { if (!recovered) renderAll(); });
  meeting.on("disconnected", ({ code }) => banner(code === 4003 ? "You were removed from this meeting." : "Disconnected: your link is no longer valid."));
  meeting.on("meetingUpdated", (m) => { $("title").textContent = m.title; document.title = m.title + " · parley"; });
}

async function main() {
  const t = token();
  if (!t) {
    $("status").textContent = "Open the join link you were given (it ends in #token=…).";
    $("composer").hidden = true;
    return;
  }
  try {
    meeting = await ParleyClient.init({ authToken: t });
    chat = meeting.chat;
    await meeting.join();
  } catch (e) {
    $("status").textContent = e.code === "unauthorized" ? "This join link is not valid (any more)." : `Could not join: ${e.message}`;
    $("composer").hidden = true;
    return;
  }
  $("title").textContent = meeting.meta.title;
  document.title = meeting.meta.title + " · parley";
  $("status").textContent = "as " + meeting.self.name;
  wire();
  renderPeople();
  renderAll();
  markRead();
  $("text").focus();
}

main();
