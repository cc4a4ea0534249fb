// parley SDK: one ES module, no dependencies. Works in browsers and in
// Node 20+ (pass `WebSocket`, or run node with --experimental-websocket).
// The chat surface follows Cloudflare RealtimeKit's `meeting.chat`.

/** An error from the server or the connection; `code` is the protocol's error code. */
export class ParleyError extends Error {
  constructor(code, message, retryAfterMs) {
    super(message || code);
    this.name = "ParleyError";
    this.code = code;
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs;
  }
}

class Emitter {
  #handlers = new Map();
  on(name, fn) {
    if (!this.#handlers.has(name)) this.#handlers.set(name, new Set());
    this.#handlers.get(name).add(fn);
    return this;
  }
  off(name, fn) {
    this.#handlers.get(name)?.delete(fn);
    return this;
  }
  emit(name, data) {
    for (const fn of [...(this.#handlers.get(name) || [])]) {
      try { fn(data); } catch (e) { setTimeout(() => { throw e; }); }
    }
  }
}

// Close codes after which reconnecting can't help.
const FINAL_CLOSE = new Set([4001, 4003, 4009]);
// Operations safe to send again after a reconnect: chat.send carries a
// client_id, so the server stores it once however often it arrives.
const RESENDABLE = new Set(["chat.send", "chat.pin", "chat.unpin", "chat.react", "chat.read", "chat.history", "chat.page", "chat.search", "ping"]);

let idCounter = 0;
function newClientId() {
  const rnd = globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random()}`;
  return `c-${rnd}-${++idCounter}`;
}

/** The participants of a meeting who are online now. */
class Participants extends Emitter {
  #map = new Map();
  toArray() { return [...this.#map.values()]; }
  get(id) { return this.#map.get(id); }
  get size() { return this.#map.size; }
  _reset(list) {
    this.#map = new Map(list.map((p) => [p.id, p]));
  }
  _join(p) {
    const known = this.#map.has(p.id);
    this.#map.set(p.id, p);
    if (!known) this.emit("participantJoined", p);
  }
  _leave(id) {
    const p = this.#map.get(id);
    if (!p) return;
    this.#map.delete(id);
    this.emit("participantLeft", p);
  }
}

/** ParleyClient is the entry point: `const meeting = await ParleyClient.init({ authToken })`. */
export class ParleyClient {
  static async init({ authToken, baseURI, WebSocket, fetch } = {}) {
    if (!authToken) throw new ParleyError("invalid_request", "authToken is required");
    const base = (baseURI || globalThis.location?.origin || "").replace(/\/+$/, "");
    if (!base) throw new ParleyError("invalid_request", "baseURI is required outside a browser");
    const WS = WebSocket || globalThis.WebSocket;
    if (!WS) throw new ParleyError("invalid_request", "no WebSocket: pass one, or run node with --experimental-websocket");
    return new Meeting({ token: authToken, base, WS, fetch: fetch || globalThis.fetch.bind(globalThis) });
  }
}

/** Meeting is one participant's view of a meeting. */
class Meeting extends Emitter {
  constructor(opts) {
    super();
    this._opts = opts;
    this.self = null;
    this.meta = null;
    this.session = null;
    this.participants = { joined: new Participants() };
    this.chat = new Chat(this);
    this.limits = null;
    this.connected = false;
    this._ws = null;
    this._ref = 0;
    this._pending = new Map(); // ref -> {frame, resolve, reject}
    this._epoch = null;
    this._seq = 0;
    this._left = false;
    this._attempt = 0;
    this._timer = null;
  }

  /** Connects and authenticates; resolves once the meeting's state is loaded. */
  join() {
    this._left = false;
    return new Promise((resolve, reject) => this._connect(resolve, reject));
  }

  /** Disconnects for good. */
  async leave() {
    this._left = true;
    clearTimeout(this._timer);
    this._failPending(new ParleyError("disconnected", "left the meeting"));
    if (this._ws) this._ws.close(1000, "leaving");
    this.connected = false;
  }

  _connect(resolve, reject) {
    const url = this._opts.base.replace(/^http/, "ws") + "/v2/realtime";
    let ws;
    try {
      ws = new this._opts.WS(url);
    } catch (e) {
      return reject ? reject(new ParleyError("network", String(e))) : this._scheduleReconnect();
    }
    this._ws = ws;
    let authed = false;
    ws.onopen = () => {
      const data = { token: this._opts.token };
      if (this._epoch) data.resume = { epoch: this._epoch, seq: this._seq };
      ws.send(JSON.stringify({ op: "auth", ref: "auth", data }));
    };
    ws.onmessage = (e) => {
      let f;
      try { f = JSON.parse(e.data); } catch { return; }
      if (!authed && f.ref === "auth") {
        if (!f.ok) {
          const err = new ParleyError(f.error.code, f.error.message);
          this._left = true;
          reject ? reject(err) : this.emit("error", err);
          return;
        }
        authed = true;
        const wasConnected = this._epoch !== null;
        this._onAuth(f.data);
        this._attempt = 0;
        this.connected = true;
        if (wasConnected) this.emit("reconnected");
        if (resolve) resolve(this);
        resolve = reject = null;
        // What was waiting for an answer when the line dropped goes again.
        for (const [, p] of this._pending) if (p.sent === false) { p.sent = true; ws.send(p.frame); }
        return;
      }
      if (f.event) this._onEvent(f.event, f.data);
      else this._onReply(f);
    };
    ws.onclose = (e) => {
      if (this._ws !== ws) return;
      const code = e.code;
      this.connected = false;
      // Requests already sent may or may not have arrived: the resendable
      // ones go again after reconnecting, the others fail now.
      for (const [ref, p] of this._pending) {
        if (RESENDABLE.has(p.op) && !FINAL_CLOSE.has(code) && !this._left) p.sent = false;
        else { this._pending.delete(ref); p.reject(new ParleyError("disconnected", "the connection closed before the answer came")); }
      }
      if (this._left) return;
      if (FINAL_CLOSE.has(code)) {
        this._left = true;
        const err = new ParleyError(code === 4003 ? "removed" : code === 4009 ? "payload_too_large" : "unauthorized", e.reason || `closed with ${code}`);
        if (reject) reject(err);
        this.emit("disconnected", { code, reason: e.reason });
        return;
      }
      if (reject && !authed && this._epoch === null) {
        reject(new ParleyError("network", `could not connect (${code})`));
        return;
      }
      this.emit("reconnecting", { code, attempt: this._attempt + 1 });
      this._scheduleReconnect(resolve, reject);
    };
    ws.onerror = () => {};
  }

  _scheduleReconnect(resolve, reject) {
    // Exponential backoff with jitter: 0.25 s, 0.5 s, 1 s … up to 10 s.
    const delay = Math.min(10000, 250 * 2 ** this._attempt) * (0.75 + Math.random() / 2);
    this._attempt++;
    this._timer = setTimeout(() => this._connect(resolve, reject), delay);
  }

  _onAuth(d) {
    const resumed = this._epoch !== null;
    this.self = d.self;
    this.meta = d.meeting;
    this.session = d.session;
    this.limits = d.limits;
    this.unread = d.unread;
    // A resumed connection replays what was missed, and seq advances
    // through those events as they are applied; a fresh (or replaced)
    // one starts from the snapshot.
    if (!resumed || d.epoch !== this._epoch) {
      this.chat._load(d.recent, d.pinned);
      this._seq = d.seq;
    }
    this._epoch = d.epoch;
    this._authSeq = d.seq;
    this.participants.joined._reset(d.participants);
  }

  _onReply(f) {
    const p = this._pending.get(f.ref);
    if (!p) return;
    this._pending.delete(f.ref);
    if (f.ok) p.resolve(f.data);
    else p.reject(new ParleyError(f.error.code, f.error.message, f.error.retry_after_ms));
  }

  _onEvent(name, data) {
    if (data && typeof data.seq === "number" && name.startsWith("chat.") && name !== "chat.read") {
      this._seq = Math.max(this._seq, data.seq);
    }
    switch (name) {
      case "presence":
        if (data.status === "online") this.participants.joined._join(data.participant || { id: data.user_id });
        else this.participants.joined._leave(data.user_id);
        this.chat.emit("memberStatus", { memberId: data.user_id, status: data.status === "online" ? "ONLINE" : "OFFLINE" });
        break;
      case "resumed":
        if (!data.recovered) this._reloadRecent().catch((e) => this.emit("error", e));
        this.emit("resumed", data);
        break;
      case "meeting.updated":
        this.meta = data;
        this.emit("meetingUpdated", data);
        break;
      case "session.ended":
        this.emit("sessionEnded", data);
        break;
      default:
        this.chat._onEvent(name, data);
    }
  }

  async _reloadRecent() {
    // The gap couldn't be filled: start again from the newest messages.
    this._seq = this._authSeq;
    const page = await this._request("chat.history", { limit: 50 });
    const pinned = await this._request("chat.history", { pinned: true, limit: 100 });
    this.chat._load(page.messages, pinned.messages);
    this.chat.emit("chatUpdate", { message: null, messages: this.chat.messages });
  }

  _failPending(err) {
    for (const [, p] of this._pending) p.reject(err);
    this._pending.clear();
  }

  _request(op, data) {
    return new Promise((resolve, reject) => {
      if (this._left || (!this._ws && !this.connected)) {
        reject(new ParleyError("disconnected", "not connected; call join() first"));
        return;
      }
      const ref = String(++this._ref);
      const frame = JSON.stringify({ op, ref, data });
      const p = { op, frame, resolve, reject, sent: this.connected };
      this._pending.set(ref, p);
      if (p.sent) this._ws.send(frame);
      else if (!RESENDABLE.has(op)) {
        this._pending.delete(ref);
        reject(new ParleyError("disconnected", "reconnecting; try again"));
      }
    });
  }

  async _upload(file) {
    const form = new FormData();
    form.append("file", file, file.name || "file");
    const res = await this._opts.fetch(this._opts.base + "/v2/uploads", {
      method: "POST",
      headers: { Authorization: "Bearer " + this._opts.token },
      body: form,
    });
    let body;
    try { body = await res.json(); } catch { throw new ParleyError("internal", `upload failed (${res.status})`); }
    if (!body.success) throw new ParleyError(body.error.code, body.error.message, body.error.retry_after_ms);
    return body.data;
  }

  /** Sends a request over HTTP with the participant token (for pages). */
  async _get(path) {
    const res = await this._opts.fetch(this._opts.base + path, { headers: { Authorization: "Bearer " + this._opts.token } });
    const body = await res.json();
    if (!body.success) throw new ParleyError(body.error.code, body.error.message);
    return body.data;
  }
}

/** Chat is `meeting.chat`: messages, sending, history and chat events. */
class Chat extends Emitter {
  constructor(meeting) {
    super();
    this._m = meeting;
    this.messages = [];
    this.pinned = [];
    this.typing = new Set();
  }

  _load(recent, pinned) {
    this.messages = [...recent];
    this.pinned = [...pinned];
  }

  _index(id) { return this.messages.findIndex((m) => m.id === id); }

  _upsert(message) {
    const i = this._index(message.id);
    if (i >= 0) this.messages[i] = message;
    else this.messages.push(message);
    const p = this.pinned.findIndex((m) => m.id === message.id);
    if (message.pinned && p < 0) this.pinned.push(message);
    else if (message.pinned) this.pinned[p] = message;
    else if (p >= 0) this.pinned.splice(p, 1);
  }

  // _merge adds older messages (from history) in time order, once each.
  _merge(list) {
    const known = new Set(this.messages.map((m) => m.id));
    const older = list.filter((m) => !known.has(m.id));
    if (older.length === 0) return;
    this.messages = [...older, ...this.messages].sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  }

  _onEvent(name, data) {
    switch (name) {
      case "chat.message":
      case "chat.updated": {
        const fresh = this._index(data.id) < 0;
        this._upsert(data);
        this.emit("chatUpdate", { message: data, messages: this.messages, action: fresh ? "add" : "edit" });
        break;
      }
      case "chat.deleted": {
        const i = this._index(data.id);
        if (i >= 0) this.messages.splice(i, 1);
        this.pinned = this.pinned.filter((m) => m.id !== data.id);
        this.emit("messageDeleted", { messageId: data.id });
        this.emit("chatUpdate", { message: { id: data.id, deleted: true }, messages: this.messages, action: "delete" });
        break;
      }
      case "chat.pinned":
      case "chat.unpinned":
        this._upsert(data);
        this.emit(name === "chat.pinned" ? "pinMessage" : "unpinMessage", { message: data });
        break;
      case "chat.read":
        this.emit("messageSeen", { messageId: data.id, userId: data.user_id, seq: data.seq });
        break;
      case "typing":
        if (data.typing) this.typing.add(data.user_id);
        else this.typing.delete(data.user_id);
        this.emit(data.typing ? "typingStarted" : "typingStopped", { userId: data.user_id, user: this._m.participants.joined.get(data.user_id) });
        break;
      case "rate_limit.reset":
        this.emit("rateLimitReset", { kind: data.kind });
        break;
    }
  }

  _send(data, peerIds) {
    if (peerIds && peerIds.length) data.target_user_ids = peerIds;
    data.client_id = newClientId();
    return this._m._request("chat.send", data);
  }

  sendTextMessage(text, peerIds) { return this._send({ type: "text", message: text }, peerIds); }
  async sendImageMessage(image, peerIds) {
    const up = await this._m._upload(image);
    return this._send({ type: "image", upload_id: up.id }, peerIds);
  }
  async sendFileMessage(file, peerIds) {
    const up = await this._m._upload(file);
    return this._send({ type: "file", upload_id: up.id }, peerIds);
  }
  sendMessage(payload, peerIds) {
    switch (payload?.type) {
      case "text": return this.sendTextMessage(payload.message, peerIds);
      case "image": return this.sendImageMessage(payload.image, peerIds);
      case "file": return this.sendFileMessage(payload.file, peerIds);
    }
    return Promise.reject(new ParleyError("invalid_request", "type must be text, image or file"));
  }

  editTextMessage(id, text) { return this._m._request("chat.edit", { id, message: text }); }
  async editImageMessage(id, image) {
    const up = await this._m._upload(image);
    return this._m._request("chat.edit", { id, upload_id: up.id });
  }
  async editFileMessage(id, file) {
    const up = await this._m._upload(file);
    return this._m._request("chat.edit", { id, upload_id: up.id });
  }
  editMessage(id, payload) {
    switch (payload?.type) {
      case "text": return this.editTextMessage(id, payload.message);
      case "image": return this.editImageMessage(id, payload.image);
      case "file": return this.editFileMessage(id, payload.file);
    }
    return Promise.reject(new ParleyError("invalid_request", "type must be text, image or file"));
  }

  deleteMessage(id) { return this._m._request("chat.delete", { id }); }
  pin(id) { return this._m._request("chat.pin", { id }); }
  unpin(id) { return this._m._request("chat.unpin", { id }); }

  getMessagesByUser(userId) { return this.messages.filter((m) => m.userId === userId); }
  getMessagesByType(type) { return this.messages.filter((m) => m.type === type); }

  async _history(opts = {}, extra = {}) {
    const data = { ...extra, limit: opts.limit ?? 25 };
    if (opts.timestamp !== undefined && opts.timestamp !== null) {
      const ts = opts.timestamp instanceof Date ? opts.timestamp.getTime() : opts.timestamp;
      data[opts.direction === "after" ? "after" : "before"] = ts;
    }
    const res = await this._m._request("chat.history", data);
    this._merge(res.messages);
    return res.messages;
  }
  /** Messages everyone can see, `limit` of them before (or after) `timestamp`. */
  async fetchPublicMessages(opts) {
    return (await this._history(opts)).filter((m) => !m.targetUserIds || m.targetUserIds.length === 0);
  }
  /** Everything the participant may see (public and its private messages): parley's extension. */
  fetchMessages(opts) { return this._history(opts); }
  /** The private thread with `userId`. */
  fetchPrivateMessages(opts = {}) { return this._history(opts, { with_user_id: opts.userId }); }
  fetchPinnedMessages(opts) { return this._history(opts, { pinned: true }); }
  /** Pages of 25, page 1 the newest: `{messages, page, totalMessages, totalPages}`. */
  getMessages({ page } = {}) { return this._m._request("chat.page", page ? { page } : {}); }
  async searchMessages(query, { limit } = {}) {
    return (await this._m._request("chat.search", limit ? { query, limit } : { query })).messages;
  }

  replyToMessage(id, text, peerIds) { return this._send({ type: "text", message: text, reply_to: id }, peerIds); }
  async addReaction(id, reaction) { return this._m._request("chat.react", { id, reaction }); }
  removeReaction(reactionId) { return this._m._request("chat.unreact", { reaction_id: reactionId }); }
  markAsRead(id) { return this._m._request("chat.read", id ? { id } : {}); }
  startTyping() { return this._m._request("chat.typing", { typing: true }); }
  stopTyping() { return this._m._request("chat.typing", { typing: false }); }
}
