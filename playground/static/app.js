// The playground's chat page: draws the emulator's chats and sends what a Telegram app would send.
// No framework and no build step: the emulator serves this file as it is.
"use strict";

const ACTIONS = {
  typing: "is typing…",
  upload_photo: "is sending a photo…",
  record_video: "is recording a video…",
  upload_video: "is sending a video…",
  record_voice: "is recording a voice message…",
  upload_voice: "is sending a voice message…",
  upload_document: "is sending a file…",
};

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const state = {
  bot: null,
  members: [],
  group: null,
  commands: { private: {}, group: {} },
  messages: new Map(), // "chat:id" -> message view
  me: Number(params.get("user")) || 0,
  where: params.get("chat") === "group" ? "group" : "private",
  replyTo: null,
};
let recorder = null;
let actionTimer = null;
let toastTimer = null;

function chatId() {
  return state.where === "group" ? state.group.id : state.me;
}

function member(id) {
  return state.members.find((m) => m.id === id);
}

function key(m) {
  return `${m.chat_id}:${m.message_id}`;
}

// ------------------------------------------------------------------------- drawing

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function drawMedia(media) {
  if (!media) return null;
  switch (media.kind) {
    case "photo":
      return el("img", { src: media.url, alt: "photo", onload: scrollDown });
    case "video":
    case "animation":
    case "video_note":
      return el("video", { src: media.url, controls: true, playsinline: true, preload: "metadata" });
    case "voice":
    case "audio":
      return el("div", {}, el("audio", { src: media.url, controls: true, preload: "metadata" }),
        el("small", {}, `${media.kind === "voice" ? "🎤 voice" : "🎵 " + (media.name || "audio")} · ${media.duration || 0} s`));
    default:
      return el("div", { class: "doc" }, el("a", { href: media.url, download: media.name || "file" }, `📄 ${media.name || "file"}`));
  }
}

function drawKeyboard(m) {
  if (!m.buttons || m.deleted) return null;
  const board = el("div", { class: "keyboard" });
  for (const row of m.buttons) {
    const line = el("div", { class: "row" });
    for (const b of row) {
      if (b.url) {
        line.append(el("button", { class: "kb", type: "button", onclick: () => window.open(b.url) }, b.text + " ↗"));
      } else {
        const button = el("button", { class: "kb", type: "button", "data-data": b.data }, b.text);
        button.addEventListener("click", () => press(m, b.data, button));
        line.append(button);
      }
    }
    board.append(line);
  }
  return board;
}

function drawInvoice(m) {
  if (!m.invoice || m.deleted) return null;
  const inv = m.invoice;
  const unit = inv.currency === "XTR" ? "⭐" : inv.currency;
  const pay = el("button", { class: "kb pay", type: "button" }, `Pay ${inv.total_amount} ${unit}`);
  pay.addEventListener("click", async () => {
    pay.disabled = true;
    await post("/api/pay", { user_id: state.me, chat_id: m.chat_id, message_id: m.message_id });
    setTimeout(() => (pay.disabled = false), 800);
  });
  return el("div", { class: "invoice" }, el("b", {}, inv.title), el("div", {}, inv.description), pay);
}

function drawMessage(m) {
  const mine = m.from.id === state.me;
  const node = el("div", {
    class: `msg${mine ? " mine" : ""}${m.from.is_bot ? " bot" : ""}${m.deleted ? " deleted" : ""}`,
    id: `m-${m.chat_id}-${m.message_id}`,
    "data-message-id": m.message_id,
  });
  const add = (child) => child && node.append(child);
  if (!mine && (m.from.is_bot || m.chat_id < 0)) add(el("div", { class: "name" }, m.from.name));
  if (m.reply_to) {
    const target = `m-${m.chat_id}-${m.reply_to.message_id}`;
    add(el("div", { class: "quote", onclick: () => flash(target) }, el("b", {}, m.reply_to.name), " ", m.reply_to.snippet));
  }
  add(drawMedia(m.media));
  add(drawInvoice(m));
  const text = m.text ?? m.caption;
  if (text) add(el("div", { class: "text" }, text));
  const meta = [];
  if (m.edited) meta.push("edited");
  if (!m.delivered) meta.push("not sent to the bot (privacy mode)");
  meta.push(new Date((m.date || 0) * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
  add(el("div", { class: "meta" }, meta.join(" · ")));
  add(drawKeyboard(m));
  add(el("button", { class: "reply-btn", type: "button", title: "reply", onclick: () => setReply(m) }, "↩"));
  return node;
}

function scrollDown() {
  const box = $("messages");
  box.scrollTop = box.scrollHeight;
}

function drawChat() {
  const box = $("messages");
  box.replaceChildren();
  const id = chatId();
  // Deleted messages disappear, as in Telegram's apps.
  const list = [...state.messages.values()]
    .filter((m) => m.chat_id === id && !m.deleted)
    .sort((a, b) => a.message_id - b.message_id);
  if (!list.length) box.append(el("div", { class: "notice" }, state.where === "group"
    ? "Send the group photo, then reply /scene to it."
    : "Send /start, a photo with a face, then a voice note or a line of text."));
  for (const m of list) box.append(drawMessage(m));
  $("chat-private").classList.toggle("active", state.where === "private");
  $("chat-group").classList.toggle("active", state.where === "group");
  $("chat-title").textContent = state.where === "group"
    ? `${state.group.title} — you are ${member(state.me).name}`
    : `${state.bot.name} (@${state.bot.username}) — private chat with ${member(state.me).name}`;
  setReply(null);
  drawCommands();
  scrollDown();
}

function upsert(m) {
  const known = state.messages.has(key(m));
  state.messages.set(key(m), m);
  if (m.chat_id !== chatId()) return;
  const old = $(`m-${m.chat_id}-${m.message_id}`);
  if (m.deleted) {
    old?.remove();
    return;
  }
  const fresh = drawMessage(m);
  if (old) {
    // Keep a playing video playing when only the caption or keyboard changed.
    const oldVideo = old.querySelector("video");
    const newVideo = fresh.querySelector("video");
    if (oldVideo && newVideo && oldVideo.src === newVideo.src) newVideo.replaceWith(oldVideo);
    old.replaceWith(fresh);
  } else {
    const box = $("messages");
    box.querySelector(".notice")?.remove();
    const later = [...box.children].find((c) => Number(c.dataset.messageId) > m.message_id);
    box.insertBefore(fresh, later || null);
    if (!known) scrollDown();
  }
}

function drawCommands() {
  const where = state.where;
  const lang = member(state.me).language_code;
  const menu = state.commands[where][lang] || state.commands[where].en || [];
  $("commands").replaceChildren(...menu.map(([name, text]) => el("option", { value: `/${name}` }, text)));
}

function flash(id) {
  const node = $(id);
  if (!node) return;
  node.scrollIntoView({ block: "center" });
  node.classList.add("flash");
  setTimeout(() => node.classList.remove("flash"), 1200);
}

function toast(text, alert = false) {
  const box = $("toast");
  box.textContent = text;
  box.className = alert ? "alert" : "";
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (box.hidden = true), alert ? 6000 : 3000);
}

function setReply(m) {
  state.replyTo = m ? m.message_id : null;
  $("reply-bar").hidden = !m;
  if (m) {
    $("reply-snippet").textContent = `${m.from.name}: ${(m.text ?? m.caption ?? m.media?.kind ?? "").slice(0, 60)}`;
    $("text").focus();
  }
}

// ------------------------------------------------------------------------- sending

async function post(url, body) {
  const response = await fetch(url, body instanceof FormData
    ? { method: "POST", body }
    : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const answer = await response.json().catch(() => ({ ok: false, error: `HTTP ${response.status}` }));
  if (!answer.ok) toast(answer.error || "not sent", true);
  return answer;
}

function form(kind) {
  const data = new FormData();
  data.set("user_id", state.me);
  data.set("chat_id", chatId());
  data.set("kind", kind);
  if (state.replyTo) data.set("reply_to", state.replyTo);
  return data;
}

async function sendText(text) {
  const data = form("text");
  data.set("text", text);
  const answer = await post("/api/send", data);
  if (answer.ok) {
    $("text").value = "";
    setReply(null);
  }
}

async function sendFile(kind, blob, name) {
  const data = form(kind);
  data.set("file", blob, name);
  const caption = $("text").value;
  if (caption && kind !== "voice") data.set("text", caption);
  const answer = await post("/api/send", data);
  if (answer.ok) {
    if (kind !== "voice") $("text").value = "";
    setReply(null);
  }
}

async function press(m, data, button) {
  button.disabled = true;
  await post("/api/press", { user_id: state.me, chat_id: m.chat_id, message_id: m.message_id, data });
  setTimeout(() => (button.disabled = false), 800);
}

async function toggleMic() {
  const mic = $("mic");
  if (recorder) {
    recorder.stop();
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    toast(`No microphone: ${error.message}`, true);
    return;
  }
  const chunks = [];
  const started = Date.now();
  recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (event) => event.data.size && chunks.push(event.data);
  const timer = setInterval(() => {
    const seconds = (Date.now() - started) / 1000;
    $("mic-time").dataset.seconds = seconds.toFixed(1);
    $("mic-time").textContent = `● ${seconds.toFixed(1)} s — tap 🎤 to send`;
  }, 100);
  recorder.onstop = async () => {
    clearInterval(timer);
    stream.getTracks().forEach((track) => track.stop());
    const type = recorder.mimeType || "audio/webm";
    recorder = null;
    mic.dataset.state = "idle";
    $("mic-time").hidden = true;
    $("mic-time").dataset.seconds = "0";
    await sendFile("voice", new Blob(chunks, { type }), type.includes("mp4") ? "voice.m4a" : "voice.webm");
  };
  recorder.start(250);
  mic.dataset.state = "recording";
  $("mic-time").hidden = false;
}

// ------------------------------------------------------------------------- live updates

function onEvent(event) {
  const data = JSON.parse(event.data);
  if (data.type === "message") upsert(data.message);
  else if (data.type === "status") setOnline(data.online);
  else if (data.type === "answer" && (data.user_id === state.me || data.user_id === null) && data.text) {
    toast(data.text, data.alert);
  }
  else if (data.type === "action" && data.chat_id === chatId()) {
    $("action").textContent = `${state.bot.name} ${ACTIONS[data.action] || data.action}`;
    clearTimeout(actionTimer);
    actionTimer = setTimeout(() => ($("action").textContent = ""), 5000); // as Telegram: 5 s
  }
}

async function setOnline(online) {
  const status = $("bot-status");
  status.dataset.online = String(online);
  status.textContent = online ? "bot online" : "bot starting… (or stopped)";
  const noMenu = !Object.keys(state.commands.private).length;
  if (online && noMenu) {
    const fresh = await (await fetch("/api/state")).json();
    state.commands = fresh.commands;
    drawCommands();
  }
}

// ------------------------------------------------------------------------- start

async function start() {
  const initial = await (await fetch("/api/state")).json();
  state.bot = initial.bot;
  state.members = initial.members;
  state.group = initial.group;
  state.commands = initial.commands;
  if (!member(state.me)) state.me = state.members[0].id;
  for (const m of initial.messages) state.messages.set(key(m), m);
  $("bot-name").textContent = state.bot.name;
  $("group-name").textContent = state.group.title;
  $("member").replaceChildren(...state.members.map((m) => el("option", { value: m.id }, m.name)));
  $("member").value = state.me;
  $("language").value = member(state.me).language_code;
  setOnline(state.bot.online);
  drawChat();

  const events = new EventSource("/api/events");
  events.onmessage = onEvent;
  events.onopen = async () => {
    // After a reconnect, catch up on what happened while the stream was down.
    const fresh = await (await fetch("/api/state")).json();
    for (const m of fresh.messages) {
      const known = state.messages.get(key(m));
      if (!known || JSON.stringify(known) !== JSON.stringify(m)) upsert(m);
    }
    setOnline(fresh.bot.online);
  };

  $("member").addEventListener("change", () => {
    state.me = Number($("member").value);
    $("language").value = member(state.me).language_code;
    drawChat();
  });
  $("language").addEventListener("change", async () => {
    const code = $("language").value;
    const answer = await post("/api/language", { user_id: state.me, language_code: code });
    if (answer.ok) member(state.me).language_code = code;
    drawCommands();
  });
  for (const tab of document.querySelectorAll(".chat-tab")) {
    tab.addEventListener("click", () => {
      state.where = tab.dataset.chat;
      drawChat();
    });
  }
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("text").value;
    if (text.trim()) sendText(text);
  });
  $("file-photo").addEventListener("change", async (event) => {
    for (const file of event.target.files) await sendFile("photo", file, file.name);
    event.target.value = "";
  });
  $("file-any").addEventListener("change", async (event) => {
    for (const file of event.target.files) await sendFile("file", file, file.name);
    event.target.value = "";
  });
  $("mic").addEventListener("click", toggleMic);
  $("reply-cancel").addEventListener("click", () => setReply(null));

  const chat = $("chat");
  chat.addEventListener("dragover", (event) => {
    event.preventDefault();
    $("drop").hidden = false;
  });
  chat.addEventListener("dragleave", (event) => {
    if (!chat.contains(event.relatedTarget)) $("drop").hidden = true;
  });
  chat.addEventListener("drop", async (event) => {
    event.preventDefault();
    $("drop").hidden = true;
    // As in Telegram's apps: a dropped picture goes as a compressed photo, anything else as a file.
    for (const file of event.dataTransfer.files) {
      await sendFile(file.type.startsWith("image/") ? "photo" : "file", file, file.name);
    }
  });
}

start();
