// SDK tests in Node 20 against the real server: every method and event of
// SPEC §9, and resume across a server restart.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Server, until, waitFor, PNG } from "./helpers.mjs";

let server, sdk;
before(async () => {
  server = await new Server().start();
  sdk = await import(server.url + "/sdk/parley.js").catch(async () => {
    // Node can't import over http: fetch the served module and load it from data.
    const src = await (await fetch(server.url + "/sdk/parley.js")).text();
    return import("data:text/javascript;base64," + Buffer.from(src).toString("base64"));
  });
});
after(async () => server.cleanup());

async function joinAll(s, names) {
  const out = {};
  for (const n of names) {
    const m = await sdk.ParleyClient.init({ authToken: s[n].token, baseURI: server.url });
    await m.join();
    out[n] = m;
  }
  return out;
}

test("join, self, participants, leave", async () => {
  const s = await server.meeting(["Alice", "Bob"]);
  const { alice } = await joinAll(s, ["alice"]);
  assert.equal(alice.self.name, "Alice");
  assert.equal(alice.meta.id, s.meeting.id);
  const joined = until(alice.participants.joined, "participantJoined", (p) => p.id === s.bob.id);
  const status = until(alice.chat, "memberStatus", (e) => e.memberId === s.bob.id && e.status === "ONLINE");
  const { bob } = await joinAll(s, ["bob"]);
  assert.equal((await joined).name, "Bob");
  await status;
  assert.deepEqual(bob.participants.joined.toArray().map((p) => p.name).sort(), ["Alice", "Bob"]);
  assert.equal(bob.participants.joined.get(s.alice.id).name, "Alice");
  const left = until(alice.participants.joined, "participantLeft", (p) => p.id === s.bob.id);
  await bob.leave();
  await left;
  await assert.rejects(bob.chat.sendTextMessage("after leaving"), { code: "disconnected" });
  await alice.leave();
});

test("send, edit, delete, pin — text, image and file — with chatUpdate", async () => {
  const s = await server.meeting(["Alice", "Bob", "Carol"]);
  const { alice, bob, carol } = await joinAll(s, ["alice", "bob", "carol"]);

  const got = until(bob.chat, "chatUpdate", ({ message }) => message?.message === "Is this the real life?");
  const sent = await alice.chat.sendTextMessage("Is this the real life?");
  const { message, messages } = await got;
  assert.equal(message.id, sent.id);
  assert.equal(messages, bob.chat.messages);
  assert.equal(bob.chat.messages.at(-1).id, sent.id);

  const viaSend = await alice.chat.sendMessage({ type: "text", message: "Is this just fantasy?" });
  assert.equal(viaSend.message, "Is this just fantasy?");

  const img = await alice.chat.sendImageMessage(new Blob([PNG], { type: "image/png" }));
  assert.equal(img.type, "image");
  assert.equal(img.width, 64);
  assert.ok(img.link.startsWith(server.url + "/files/"));
  const file = await bob.chat.sendFileMessage(new File(["hello"], "notes.txt"));
  assert.deepEqual([file.type, file.name, file.size], ["file", "notes.txt", 5]);
  const viaSendFile = await bob.chat.sendMessage({ type: "file", file: new File(["x"], "x.txt") });
  assert.equal(viaSendFile.name, "x.txt");

  const edited = until(carol.chat, "chatUpdate", ({ message }) => message?.id === sent.id && message.isEdited);
  await alice.chat.editTextMessage(sent.id, "Caught in a landslide");
  assert.equal((await edited).message.message, "Caught in a landslide");
  await alice.chat.editMessage(sent.id, { type: "text", message: "No escape" });
  const img2 = await alice.chat.editImageMessage(img.id, new Blob([PNG], { type: "image/png" }));
  assert.notEqual(img2.link, img.link);
  const file2 = await bob.chat.editFileMessage(file.id, new File(["hello again"], "notes2.txt"));
  assert.equal(file2.name, "notes2.txt");
  await bob.chat.editMessage(file.id, { type: "file", file: new File(["v3"], "notes3.txt") });

  const pinned = until(carol.chat, "pinMessage", ({ message }) => message.id === sent.id);
  await bob.chat.pin(sent.id);
  assert.equal((await pinned).message.pinned, true);
  assert.equal(carol.chat.pinned.length, 1);
  const unpinned = until(carol.chat, "unpinMessage", ({ message }) => message.id === sent.id);
  await bob.chat.unpin(sent.id);
  await unpinned;
  assert.equal(carol.chat.pinned.length, 0);

  const deleted = until(carol.chat, "messageDeleted", ({ messageId }) => messageId === viaSend.id);
  await alice.chat.deleteMessage(viaSend.id);
  await deleted;
  assert.ok(!carol.chat.messages.some((m) => m.id === viaSend.id));

  assert.deepEqual(carol.chat.getMessagesByUser(s.bob.id).map((m) => m.type), ["file", "file"]);
  assert.equal(carol.chat.getMessagesByType("image").length, 1);

  await assert.rejects(bob.chat.editTextMessage(sent.id, "mine now"), { code: "forbidden" });
  await assert.rejects(bob.chat.sendTextMessage("x".repeat(2001)), { code: "text_too_long" });
  await assert.rejects(bob.chat.sendMessage({ type: "poll" }), { code: "invalid_request" });
  for (const m of [alice, bob, carol]) await m.leave();
});

test("private messages, replies, reactions, read receipts, typing", async () => {
  const s = await server.meeting(["Alice", "Bob", "Carol"]);
  const { alice, bob, carol } = await joinAll(s, ["alice", "bob", "carol"]);
  const priv = await alice.chat.sendTextMessage("psst", [s.bob.id]);
  assert.deepEqual(priv.targetUserIds, [s.bob.id]);
  const pub = await alice.chat.sendTextMessage("hello all");
  await waitFor(() => carol.chat.messages.some((m) => m.id === pub.id));
  assert.ok(!carol.chat.messages.some((m) => m.id === priv.id));
  assert.ok(bob.chat.messages.some((m) => m.id === priv.id));

  const thread = await bob.chat.fetchPrivateMessages({ userId: s.alice.id, limit: 10 });
  assert.deepEqual(thread.map((m) => m.id), [priv.id]);
  const reply = await bob.chat.replyToMessage(pub.id, "hi!");
  assert.equal(reply.replyTo, pub.id);

  const reacted = until(alice.chat, "chatUpdate", ({ message }) => message?.id === pub.id && message.reactions.length === 1);
  const { reaction_id } = await carol.chat.addReaction(pub.id, "👍");
  await reacted;
  const unreacted = until(alice.chat, "chatUpdate", ({ message }) => message?.id === pub.id && message.reactions.length === 0);
  await carol.chat.removeReaction(reaction_id);
  await unreacted;

  const seen = until(alice.chat, "messageSeen", (e) => e.userId === s.carol.id);
  await carol.chat.markAsRead(pub.id);
  assert.equal((await seen).messageId, pub.id);
  await bob.chat.markAsRead(); // the latest

  const started = until(bob.chat, "typingStarted", (e) => e.userId === s.alice.id);
  await alice.chat.startTyping();
  assert.equal((await started).user.name, "Alice");
  const stopped = until(bob.chat, "typingStopped", (e) => e.userId === s.alice.id);
  await alice.chat.stopTyping();
  await stopped;
  for (const m of [alice, bob, carol]) await m.leave();
});

test("history, pinned, pages and search", async () => {
  const s = await server.meeting(["Alice", "Bob"]);
  const { alice, bob } = await joinAll(s, ["alice", "bob"]);
  const sent = [];
  for (let i = 0; i < 30; i++) sent.push(await alice.chat.sendTextMessage(`message number ${i}`));
  await bob.chat.pin(sent[3].id);
  const { bob: late } = await joinAll({ bob: s.bob }, ["bob"]);
  const older = await late.chat.fetchPublicMessages({ timestamp: Date.parse(sent[10].time) + 1, limit: 5, direction: "before" });
  assert.deepEqual(older.map((m) => m.message), [6, 7, 8, 9, 10].map((i) => `message number ${i}`));
  const newer = await late.chat.fetchPublicMessages({ timestamp: Date.parse(sent[27].time) - 1, limit: 10, direction: "after" });
  assert.ok(newer.length >= 3 && newer.some((m) => m.id === sent[29].id));
  const pins = await late.chat.fetchPinnedMessages({ limit: 10 });
  assert.deepEqual(pins.map((m) => m.id), [sent[3].id]);
  const page = await late.chat.getMessages({ page: 2 });
  assert.deepEqual([page.page, page.totalMessages, page.totalPages, page.messages.length], [2, 30, 2, 5]);
  assert.equal((await late.chat.getMessages()).messages.at(-1).id, sent[29].id);
  const found = await late.chat.searchMessages("number 17");
  assert.equal(found[0].id, sent[17].id);
  for (const m of [alice, bob, late]) await m.leave();
});

test("errors reject with the protocol's code", async () => {
  await assert.rejects(sdk.ParleyClient.init({}), { code: "invalid_request" });
  const bad = await sdk.ParleyClient.init({ authToken: "nope", baseURI: server.url });
  await assert.rejects(bad.join(), { code: "unauthorized" });
  const s = await server.meeting(["Vera"], { Vera: "viewer" });
  const { vera } = await joinAll(s, ["vera"]);
  await assert.rejects(vera.chat.sendTextMessage("hi"), { code: "forbidden" });
  await assert.rejects(vera.chat.sendFileMessage(new File(["x"], "x.txt")), { code: "forbidden" });
  await vera.leave();
});

test("rateLimitReset after the bucket refills", async () => {
  const fast = await new Server({ args: ["--messages-per-minute", "60"] }).start();
  try {
    const s = await fast.meeting(["Alice"]);
    const alice = await sdk.ParleyClient.init({ authToken: s.alice.token, baseURI: fast.url });
    await alice.join();
    for (let i = 0; i < 60; i++) await alice.chat.sendTextMessage(`m${i}`);
    const reset = until(alice.chat, "rateLimitReset");
    const err = await alice.chat.sendTextMessage("one too many").catch((e) => e);
    assert.equal(err.code, "rate_limited");
    assert.ok(err.retryAfterMs > 0 && err.retryAfterMs <= 1000);
    assert.equal((await reset).kind, "messages");
    await alice.chat.sendTextMessage("after the reset");
    await alice.leave();
  } finally {
    await fast.cleanup();
  }
});

test("resume after a server restart keeps messages complete", async () => {
  const s = await server.meeting(["Alice", "Bob"]);
  const { alice, bob } = await joinAll(s, ["alice", "bob"]);
  const arrived = until(bob.chat, "chatUpdate", ({ message }) => message?.message === "before the crash");
  await alice.chat.sendTextMessage("before the crash");
  await arrived;

  const reconnecting = until(bob, "reconnecting");
  await server.kill();
  await reconnecting;
  // Sent while the server is down: queued, sent once it is back, stored once.
  const whileDown = bob.chat.sendTextMessage("sent while down");
  await server.start();
  await whileDown;
  await waitFor(() => alice.connected && bob.connected);
  const after = await alice.chat.sendTextMessage("after the restart");
  await waitFor(() => bob.chat.messages.some((m) => m.id === after.id));
  const texts = bob.chat.messages.map((m) => m.message);
  assert.deepEqual(texts, ["before the crash", "sent while down", "after the restart"]);
  const page = await bob.chat.getMessages();
  assert.equal(page.totalMessages, 3, "the message sent while down was stored once");
  for (const m of [alice, bob]) await m.leave();
});
