// parley's admin page: the REST admin API behind a form. The admin key is
// kept in sessionStorage only, so it goes when the tab does.
const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...kids) => {
  const e = Object.assign(document.createElement(tag), props);
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
};
const EVENTS = ["meeting.started", "meeting.ended", "meeting.participantJoined", "meeting.participantLeft", "meeting.chatSynced"];
let current = null; // the selected meeting

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { Authorization: "Bearer " + sessionStorage.getItem("parley.adminKey"), "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({ success: false, error: { code: "internal", message: `HTTP ${res.status}` } }));
  if (!json.success) {
    if (res.status === 401) logout("That admin key was not accepted.");
    throw new Error(json.error.message);
  }
  return json.data;
}

function flash(msg) {
  $("banner").textContent = msg;
  $("banner").hidden = !msg;
}

async function guard(fn) {
  try { flash(""); await fn(); } catch (e) { flash(e.message); }
}

function logout(msg) {
  sessionStorage.removeItem("parley.adminKey");
  $("app").hidden = true;
  $("login").hidden = false;
  $("logout").hidden = true;
  flash(msg || "");
}

function button(text, onclick, title) {
  const b = el("button", { type: "button", textContent: text, title: title || text });
  b.onclick = () => guard(onclick);
  return b;
}

const joinLink = (token) => `${location.origin}/#token=${token}`;

async function loadMeetings() {
  const list = await api("GET", "/v2/meetings?per_page=100");
  $("meetings").replaceChildren(...list.map((m) => el("li", {},
    el("span", {}, el("b", { textContent: m.title }), " ", el("span", { className: "muted", textContent: m.status })),
    button("Open", () => openMeeting(m)))));
}

async function openMeeting(m) {
  current = m;
  $("meeting").hidden = false;
  $("meeting-name").textContent = m.title;
  await Promise.all([loadParticipants(), loadSessions()]);
  $("p-name").focus();
}

async function loadParticipants() {
  const list = await api("GET", `/v2/meetings/${current.id}/participants?per_page=100`);
  $("participants").replaceChildren(...list.map((p) => el("li", {},
    el("span", {}, el("b", { textContent: p.name }), " ", el("span", { className: "muted", textContent: p.preset_name })),
    button("New join link", async () => {
      const { token } = await api("POST", `/v2/meetings/${current.id}/participants/${p.id}/token`);
      showLink(p.name, token);
    }, "Issue a new token (the old link stops working)"),
    button("Remove", async () => { await api("DELETE", `/v2/meetings/${current.id}/participants/${p.id}`); await loadParticipants(); }))));
}

function showLink(name, token) {
  const link = joinLink(token);
  const copy = el("button", { type: "button", textContent: "Copy" });
  copy.onclick = async () => { await navigator.clipboard?.writeText(link).catch(() => {}); copy.textContent = "Copied"; };
  const li = el("li", { className: "joinlink" }, el("span", {}, `Join link for ${name}: `, el("a", { href: link, target: "_blank", rel: "noopener", textContent: link })), copy);
  $("participants").prepend(li);
}

async function loadSessions() {
  const list = await api("GET", `/v2/sessions?meeting_id=${current.id}&per_page=100`);
  $("sessions").replaceChildren(...list.map((s) => el("li", {},
    el("span", {}, new Date(s.started_at).toLocaleString(), " ", el("span", { className: "muted", textContent: s.status })),
    button("Download CSV", async () => {
      const { chat_download_url } = await api("GET", `/v2/sessions/${s.id}/chat`);
      location.href = chat_download_url;
    }))));
  if (list.length === 0) $("sessions").append(el("li", { className: "muted", textContent: "No sessions yet: one starts when someone joins." }));
}

async function loadWebhooks() {
  const list = await api("GET", "/v2/webhooks");
  $("webhooks").replaceChildren(...list.map((w) => {
    const li = el("li", {},
      el("span", {}, el("b", { textContent: w.name }), " ", el("code", { textContent: w.url }), " ", el("span", { className: "muted", textContent: w.events.join(", ") })),
      button(w.enabled ? "Disable" : "Enable", async () => { await api("PATCH", `/v2/webhooks/${w.id}`, { enabled: !w.enabled }); await loadWebhooks(); }),
      button("Deliveries", async () => {
        const ds = await api("GET", `/v2/webhooks/${w.id}/deliveries`);
        const ul = el("ul", { className: "list" }, ...ds.map((d) => el("li", {}, el("span", { textContent: `${d.event} — ${d.status}, ${d.attempts} attempt(s)${d.last_error ? ", " + d.last_error : ""}` }))));
        if (ds.length === 0) ul.append(el("li", { className: "muted", textContent: "No deliveries yet." }));
        li.querySelector("ul")?.remove();
        li.append(ul);
      }),
      button("Delete", async () => { await api("DELETE", `/v2/webhooks/${w.id}`); await loadWebhooks(); }));
    return li;
  }));
}

async function start() {
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  const presets = await api("GET", "/v2/presets");
  $("p-preset").replaceChildren(...presets.map((p) => el("option", { value: p.name, textContent: p.name, selected: p.name === "participant" })));
  $("w-events").replaceChildren(el("legend", { className: "sr", textContent: "Events" }), ...EVENTS.map((e) => el("label", {}, el("input", { type: "checkbox", value: e, checked: true }), " " + e.replace("meeting.", ""))));
  await Promise.all([loadMeetings(), loadWebhooks()]);
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem("parley.adminKey", $("key").value.trim());
  $("key").value = "";
  guard(start);
});
$("logout").onclick = () => logout();
$("new-meeting").addEventListener("submit", (e) => {
  e.preventDefault();
  guard(async () => {
    const m = await api("POST", "/v2/meetings", { title: $("meeting-title").value });
    $("meeting-title").value = "";
    await loadMeetings();
    await openMeeting(m);
  });
});
$("new-participant").addEventListener("submit", (e) => {
  e.preventDefault();
  guard(async () => {
    const name = $("p-name").value.trim();
    const p = await api("POST", `/v2/meetings/${current.id}/participants`, {
      name, preset_name: $("p-preset").value, custom_participant_id: `${name.toLowerCase().replace(/\W+/g, "-")}-${Date.now().toString(36)}`,
    });
    $("p-name").value = "";
    await loadParticipants();
    showLink(p.name, p.token);
  });
});
$("new-webhook").addEventListener("submit", (e) => {
  e.preventDefault();
  guard(async () => {
    const events = [...$("w-events").querySelectorAll("input:checked")].map((i) => i.value);
    const w = await api("POST", "/v2/webhooks", { name: $("w-name").value, url: $("w-url").value, events });
    $("secret").hidden = false;
    $("secret").replaceChildren("Signing secret for ", el("b", { textContent: w.name }), " (shown once): ", el("code", { textContent: w.secret }));
    $("w-name").value = $("w-url").value = "";
    await loadWebhooks();
  });
});

if (sessionStorage.getItem("parley.adminKey")) guard(start);
