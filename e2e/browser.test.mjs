// Browser tests: the web client and the admin page in headless Chromium
// (Debian's chromium, driven by playwright-core), against the real server.
// Each test saves a screenshot in e2e/screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { Server, here, PNG, ADMIN_KEY } from "./helpers.mjs";

const shots = join(here, "screenshots");
mkdirSync(shots, { recursive: true });
let server, browser;

before(async () => {
  server = await new Server().start();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
  });
});
after(async () => {
  await browser?.close();
  await server?.cleanup();
});

/** open joins a participant in its own browser context. */
async function open(p, { width = 1100, height = 760 } = {}) {
  const ctx = await browser.newContext({ viewport: { width, height } });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => console.error("page error:", e));
  await page.goto(`${server.url}/#token=${p.token}`);
  await page.locator("#status", { hasText: "as " + p.name }).waitFor();
  return page;
}

async function send(page, text) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}

const message = (page, text) => page.locator(".msg", { hasText: text });

test("two participants chat", async () => {
  const s = await server.meeting(["Alice", "Bob"]);
  const alice = await open(s.alice), bob = await open(s.bob);
  assert.equal(await alice.evaluate(() => location.hash), "", "the token is taken out of the address bar");
  await send(alice, "Is this the real life?");
  await message(bob, "Is this the real life?").waitFor();
  await send(bob, "Is this just fantasy?");
  await message(alice, "Is this just fantasy?").waitFor();
  // Reply, react, edit, pin.
  await message(alice, "Is this just fantasy?").hover();
  await message(alice, "Is this just fantasy?").getByRole("button", { name: "Reply" }).click();
  await send(alice, "Caught in a landslide");
  await bob.locator(".msg .quote", { hasText: "Bob: Is this just fantasy?" }).waitFor();
  await message(bob, "Caught in a landslide").hover();
  await message(bob, "Caught in a landslide").getByRole("button", { name: "React 👍" }).click();
  await message(alice, "Caught in a landslide").locator(".reactions button", { hasText: "👍 1" }).waitFor();
  await message(alice, "Is this the real life?").hover();
  await message(alice, "Is this the real life?").getByRole("button", { name: "Edit" }).click();
  await alice.fill("#text", "No escape from reality");
  await alice.press("#text", "Enter");
  await message(bob, "No escape from reality").locator(".meta", { hasText: "edited" }).waitFor();
  await message(bob, "No escape from reality").hover();
  await message(bob, "No escape from reality").getByRole("button", { name: "Pin" }).click();
  await alice.locator("#pinned-count", { hasText: "1" }).waitFor();
  // Typing, seen and presence.
  await bob.type("#text", "open your eyes");
  await alice.locator("#typing", { hasText: "Bob is typing" }).waitFor();
  await message(alice, "Caught in a landslide").locator(".seen", { hasText: "Seen by Bob" }).waitFor();
  await alice.click("[data-panel=people]");
  await alice.locator("#people li", { hasText: "Bob" }).waitFor();
  await alice.screenshot({ path: join(shots, "chat-alice.png") });
  await bob.screenshot({ path: join(shots, "chat-bob.png") });
  await alice.context().close();
  await bob.context().close();
});

test("an image upload shows a preview on the other side", async () => {
  const s = await server.meeting(["Alice", "Bob"]);
  const alice = await open(s.alice), bob = await open(s.bob);
  await alice.setInputFiles("#file", { name: "gradient.png", mimeType: "image/png", buffer: PNG });
  const img = bob.locator(".msg .thumb img");
  await img.waitFor();
  await bob.waitForFunction(() => document.querySelector(".msg .thumb img")?.naturalWidth > 0);
  await alice.setInputFiles("#file", { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("minutes") });
  await bob.locator(".file", { hasText: "notes.txt" }).waitFor();
  assert.match(await bob.locator(".file").innerText(), /7 B/);
  await bob.locator(".msg .thumb").click();
  await bob.locator("#viewer[open] img").waitFor();
  await bob.screenshot({ path: join(shots, "image-preview.png") });
  await alice.context().close();
  await bob.context().close();
});

test("a private message is invisible to a third participant", async () => {
  const s = await server.meeting(["Alice", "Bob", "Carol"]);
  const alice = await open(s.alice), bob = await open(s.bob), carol = await open(s.carol);
  await alice.locator("#to option", { hasText: "Bob" }).waitFor({ state: "attached" });
  await alice.selectOption("#to", s.bob.id);
  await send(alice, "psst, only for Bob");
  await message(bob, "psst, only for Bob").locator(".meta", { hasText: "🔒" }).waitFor();
  await alice.selectOption("#to", "");
  await send(alice, "hello everyone");
  await message(carol, "hello everyone").waitFor();
  assert.equal(await message(carol, "psst").count(), 0);
  await carol.click("[data-panel=search]");
  await carol.fill("#search", "psst");
  await carol.press("#search", "Enter");
  await carol.locator("#results", { hasText: "Nothing found" }).waitFor();
  await carol.screenshot({ path: join(shots, "private-carol.png") });
  await bob.screenshot({ path: join(shots, "private-bob.png") });
  for (const p of [alice, bob, carol]) await p.context().close();
});

test("the 181st message in a minute shows the rate-limit state", async () => {
  const s = await server.meeting(["Alice"]);
  const alice = await open(s.alice);
  // 180 at once through the HTTP actions: the same per-participant bucket.
  const codes = await Promise.all(Array.from({ length: 180 }, (_, i) => fetch(server.url + "/api/chat", {
    method: "POST",
    headers: { Authorization: "Bearer " + s.alice.token, "Content-Type": "application/json" },
    body: JSON.stringify({ type: "SEND_MSG", chatId: s.meeting.id, message: `burst ${i}` }),
  }).then((r) => r.status)));
  assert.deepEqual([...new Set(codes)], [200]);
  // The bucket refills a token every third of a second, so the burst may
  // have earned one or two back, and the refusal shows only until the
  // next token: record the moment the state appears, then send until it does.
  await alice.evaluate(() => {
    const p = document.getElementById("ratelimit");
    new MutationObserver(() => {
      if (!p.hidden && document.getElementById("send").disabled) window.limitedText = p.textContent;
    }).observe(p, { attributes: true, childList: true, subtree: true, characterData: true });
  });
  for (let i = 0; i < 10 && !(await alice.evaluate(() => window.limitedText)); i++) {
    const text = `one too many (${i})`;
    await send(alice, text);
    // Either it went through (a refilled token) or it was refused.
    await alice.waitForFunction((t) => window.limitedText || [...document.querySelectorAll(".msg .body")].some((b) => b.textContent === t), text);
  }
  if (await alice.locator("#ratelimit").isVisible()) await alice.screenshot({ path: join(shots, "rate-limited.png") });
  assert.match(await alice.evaluate(() => window.limitedText), /You're sending too fast\. You can send again in \d+ s\./);
  // When the bucket allows again, sending comes back.
  await alice.locator("#ratelimit").waitFor({ state: "hidden", timeout: 5000 });
  assert.equal(await alice.locator("#send").isDisabled(), false);
  await alice.context().close();
});

test("killing and restarting the server mid-chat loses nothing on screen", async () => {
  const s = await server.meeting(["Alice", "Bob"]);
  const alice = await open(s.alice), bob = await open(s.bob);
  await send(alice, "before the crash");
  await message(bob, "before the crash").waitFor();
  await server.kill();
  await bob.locator("#banner", { hasText: "Reconnecting" }).waitFor();
  await bob.screenshot({ path: join(shots, "reconnecting.png") });
  await send(alice, "typed while the server was down");
  await server.start();
  await message(bob, "typed while the server was down").waitFor({ timeout: 20000 });
  await send(bob, "after the restart");
  await message(alice, "after the restart").waitFor();
  await bob.locator("#banner").waitFor({ state: "hidden" });
  for (const p of [alice, bob]) {
    const texts = await p.locator(".msg .body").allInnerTexts();
    assert.deepEqual(texts, ["before the crash", "typed while the server was down", "after the restart"]);
  }
  await alice.screenshot({ path: join(shots, "after-restart.png") });
  await alice.context().close();
  await bob.context().close();
});

test("the admin page creates a meeting and a working join link", async () => {
  const ctx = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  const page = await ctx.newPage();
  await page.goto(server.url + "/admin");
  await page.fill("#key", ADMIN_KEY);
  await page.press("#key", "Enter");
  await page.fill("#meeting-title", "Design review");
  await page.press("#meeting-title", "Enter");
  await page.locator("#meeting-name", { hasText: "Design review" }).waitFor();
  await page.fill("#p-name", "Dana");
  await page.press("#p-name", "Enter");
  const link = await page.locator(".joinlink a").getAttribute("href");
  assert.match(link, /\/#token=/);
  await page.fill("#w-name", "archive");
  await page.fill("#w-url", "http://127.0.0.1:9/hook");
  await page.click("#new-webhook button[type=submit]");
  await page.locator("#secret", { hasText: "whsec_" }).waitFor();
  await page.screenshot({ path: join(shots, "admin.png"), fullPage: true });
  // The link works, on a phone-sized screen.
  const phone = await browser.newContext({ viewport: { width: 390, height: 760 } });
  const dana = await phone.newPage();
  await dana.goto(link);
  await dana.locator("#status", { hasText: "as Dana" }).waitFor();
  assert.equal(await dana.locator("#title").innerText(), "Design review");
  await send(dana, "hello from a phone");
  await message(dana, "hello from a phone").waitFor();
  await dana.screenshot({ path: join(shots, "phone.png") });
  // The session it started is listed, with its CSV.
  await page.click("#meetings li:has-text('Design review') button");
  await page.locator("#sessions li", { hasText: "LIVE" }).waitFor();
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#sessions button")]);
  assert.match(download.suggestedFilename(), /^chat-.*\.csv$/);
  await ctx.close();
  await phone.close();
});

test("older messages on scroll, delete, drag and drop, paste, dark mode", async () => {
  const s = await server.meeting(["Alice", "Bob"]);
  for (let i = 0; i < 60; i++) {
    const res = await fetch(server.url + "/api/chat", {
      method: "POST",
      headers: { Authorization: "Bearer " + s.bob.token, "Content-Type": "application/json" },
      body: JSON.stringify({ type: "SEND_MSG", chatId: s.meeting.id, message: `history ${i}` }),
    });
    assert.equal(res.status, 200);
  }
  const ctx = await browser.newContext({ viewport: { width: 900, height: 700 }, colorScheme: "dark" });
  const alice = await ctx.newPage();
  await alice.goto(`${server.url}/#token=${s.alice.token}`);
  await alice.locator("#status", { hasText: "as Alice" }).waitFor();
  assert.equal(await alice.locator(".msg").count(), 50, "the auth reply brings the last 50");
  await alice.locator("#messages").evaluate((l) => { l.scrollTop = 0; l.dispatchEvent(new Event("scroll")); });
  await message(alice, "history 0").waitFor();
  assert.equal(await alice.locator(".msg").count(), 60);

  // Drag and drop a file, paste an image.
  await alice.evaluate(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(["dropped bytes"], "dropped.txt", { type: "text/plain" }));
    document.querySelector(".chat").dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await alice.locator(".file", { hasText: "dropped.txt" }).waitFor();
  await alice.evaluate(async (b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], "pasted.png", { type: "image/png" }));
    document.getElementById("text").dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
  }, PNG.toString("base64"));
  await alice.locator(".msg .thumb img").waitFor();

  // Delete one's own message, after confirming.
  await send(alice, "regrettable");
  await message(alice, "regrettable").hover();
  alice.once("dialog", (d) => d.accept());
  await message(alice, "regrettable").getByRole("button", { name: "Delete" }).click();
  await message(alice, "regrettable").waitFor({ state: "detached" });
  const bg = await alice.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, "rgb(19, 19, 22)", "dark theme");
  await alice.screenshot({ path: join(shots, "dark.png") });
  await ctx.close();
});
