// board.js: the customer status board (/board/). Two columns, Preparing and Ready, kept live by
// live.js; a number that becomes READY is highlighted for a few seconds, chimed and announced.
//
// DOM contract (browser tests rely on it):
//   section#preparing ol > li[data-number=N]   REQUESTED and IN_PROGRESS, oldest (lowest) first
//   section#ready ol > li[data-number=N]       READY, oldest first; COLLECTED orders drop off
//   li.announce                                for ANNOUNCE_MS after the number became READY
//   body[data-announced]                       announcements so far (starts at "0")
//   body[data-last-announced]                  the last number announced
//   #connection[data-state]                    websocket | sse | poll | connecting | offline
//   #announcer (aria-live=polite)              "Order N is ready"
// Optional: ?transport=sse (or poll, or a list "sse,poll") limits the transports tried.

import { connectBoardFeed, describeState, transportsFromQuery } from "./live.js";
import { Chime } from "./chime.js";

const ANNOUNCE_MS = 5000;
const ANNOUNCER_KEEP = 6; // messages kept in the live region
const RANK = { REQUESTED: 0, IN_PROGRESS: 1, READY: 2, COLLECTED: 3 };
const PREPARING = new Set(["REQUESTED", "IN_PROGRESS"]);

const body = document.body;
const lists = {
  preparing: document.querySelector("#preparing ol"),
  ready: document.querySelector("#ready ol"),
};
const connection = document.getElementById("connection");
const banner = document.getElementById("offline-banner");
const announcer = document.getElementById("announcer");
const soundButton = document.getElementById("sound");

/** number -> status of every active order the board knows. */
let statuses = new Map();
/** number -> timer of the numbers being announced now. */
const announcing = new Map();
let everConnected = false;

if (!body.dataset.announced) body.dataset.announced = "0";

// ---- rendering --------------------------------------------------------------------------

// Steps of the numbers' size (board.css multiplies its base size by --scale): 1 = giant.
const SCALES = [1, 0.85, 0.72, 0.61, 0.52, 0.44, 0.37, 0.31, 0.26];

function setStep(ol, index) {
  ol.dataset.size = String(index + 1);
  ol.style.setProperty("--scale", String(SCALES[index]));
}

/** The largest step at which every number of `ol` is visible without scrolling. Where the page
 *  scrolls instead (phones) the step follows how many numbers there are. */
function fit(ol) {
  if (getComputedStyle(ol).overflowY === "visible") {
    const count = ol.children.length;
    setStep(ol, count <= 6 ? 0 : count <= 12 ? 1 : count <= 24 ? 2 : 3);
    return;
  }
  for (let index = 0; index < SCALES.length; index += 1) {
    setStep(ol, index);
    if (ol.scrollHeight <= ol.clientHeight + 1) return;
  }
}

/** Make `ol` hold exactly `numbers` in that order, reusing the existing <li>s (so a running
 *  highlight animation is not restarted by an unrelated change). */
function renderList(ol, numbers) {
  const existing = new Map();
  for (const li of ol.children) existing.set(Number(li.dataset.number), li);
  const wanted = new Set(numbers);
  for (const [number, li] of existing) {
    if (!wanted.has(number)) li.remove();
  }
  numbers.forEach((number, index) => {
    let li = existing.get(number);
    if (!li) {
      li = document.createElement("li");
      li.dataset.number = String(number);
      li.textContent = String(number);
    }
    li.classList.toggle("announce", announcing.has(number));
    if (ol.children[index] !== li) ol.insertBefore(li, ol.children[index] ?? null);
  });
  const digits = numbers.reduce((most, n) => Math.max(most, String(n).length), 3);
  ol.style.setProperty("--digits", String(digits));
  fit(ol);
  scheduleFit(); // and again once the layout has settled
}

function render() {
  const preparing = [];
  const ready = [];
  for (const [number, status] of statuses) {
    if (PREPARING.has(status)) preparing.push(number);
    else if (status === "READY") ready.push(number);
  }
  preparing.sort((a, b) => a - b);
  ready.sort((a, b) => a - b);
  renderList(lists.preparing, preparing);
  renderList(lists.ready, ready);
}

// Fit again whenever the room for the numbers changes: window size, the offline banner, fonts.
let fitFrame = 0;
function scheduleFit() {
  if (fitFrame) return;
  fitFrame = requestAnimationFrame(() => {
    fitFrame = 0;
    fit(lists.preparing);
    fit(lists.ready);
  });
}
if (typeof ResizeObserver === "function") {
  const observer = new ResizeObserver(scheduleFit);
  observer.observe(lists.preparing.parentElement);
  observer.observe(lists.ready.parentElement);
} else {
  window.addEventListener("resize", scheduleFit);
}
document.fonts?.ready.then(scheduleFit);

// ---- announcements ----------------------------------------------------------------------

const chime = new Chime({ onState: showSound });

function say(text) {
  const line = document.createElement("p");
  line.textContent = text;
  announcer.append(line);
  while (announcer.children.length > ANNOUNCER_KEEP) announcer.firstElementChild.remove();
}

function announce(number) {
  clearTimeout(announcing.get(number));
  announcing.set(number, setTimeout(() => {
    announcing.delete(number);
    const li = lists.ready.querySelector(`li[data-number="${number}"]`);
    li?.classList.remove("announce");
  }, ANNOUNCE_MS));
  body.dataset.announced = String(Number(body.dataset.announced || "0") + 1);
  body.dataset.lastAnnounced = String(number);
  say(`Order ${number} is ready`);
  if (chime.play()) body.dataset.chimes = String(Number(body.dataset.chimes || "0") + 1);
}

function stopAnnouncing(number) {
  clearTimeout(announcing.get(number));
  announcing.delete(number);
}

// ---- feed -------------------------------------------------------------------------------

function applySnapshot(snapshot, { first }) {
  const previous = statuses;
  statuses = new Map();
  for (const n of snapshot.requested) statuses.set(n, "REQUESTED");
  for (const n of snapshot.in_progress) statuses.set(n, "IN_PROGRESS");
  for (const n of snapshot.ready) statuses.set(n, "READY");
  for (const number of announcing.keys()) {
    if (statuses.get(number) !== "READY") stopAnnouncing(number);
  }
  // After a reconnect, announce what became ready while we were away (not on the first load:
  // those numbers were ready before the board was switched on).
  const fresh = first ? [] : snapshot.ready.filter((n) => previous.get(n) !== "READY");
  fresh.sort((a, b) => a - b).forEach(announce);
  render();
}

function applyChange({ number, status }) {
  if (!(status in RANK)) return;
  const current = statuses.get(number);
  // Statuses only move forward: an older status arriving late (e.g. a change the snapshot
  // already included) must not move a number back.
  if (current !== undefined && RANK[status] < RANK[current]) return;
  if (status === "COLLECTED") {
    statuses.delete(number);
    stopAnnouncing(number);
  } else {
    statuses.set(number, status);
    if (status === "READY" && current !== "READY") announce(number);
  }
  render();
}

function showState(state) {
  connection.dataset.state = state;
  connection.textContent = describeState(state);
  const live = state === "websocket" || state === "sse" || state === "poll";
  if (live) everConnected = true;
  // The banner: offline at any time, or "connecting" again after having been live.
  const stale = !live && (state === "offline" || everConnected);
  banner.hidden = !stale;
  body.dataset.stale = String(stale);
}

const feed = connectBoardFeed({
  transports: transportsFromQuery() ?? undefined,
  onSnapshot: applySnapshot,
  onChange: applyChange,
  onState: showState,
});

// ---- sound ------------------------------------------------------------------------------

function showSound(state) {
  soundButton.dataset.sound = state;
  body.dataset.sound = state;
  if (state === "unavailable") {
    soundButton.textContent = "Sound unavailable";
    soundButton.disabled = true;
  } else if (state === "on") {
    soundButton.textContent = "Mute sound";
  } else {
    soundButton.textContent = "Enable sound";
  }
}

soundButton.addEventListener("click", () => {
  if (chime.state === "on") chime.mute();
  else chime.enable();
});

// Browsers start audio only after a gesture: resume on the first click or key press anywhere
// (a TV remote's key counts), unless someone muted the board.
function firstGesture(event) {
  if (soundButton.contains(event.target)) return; // the button decides for itself
  if (!chime.muted) chime.unlock();
  if (chime.state === "on") {
    document.removeEventListener("pointerdown", firstGesture, true);
    document.removeEventListener("keydown", firstGesture, true);
  }
}
document.addEventListener("pointerdown", firstGesture, true);
document.addEventListener("keydown", firstGesture, true);

// A screen started with autoplay allowed (kiosk mode) gets sound without any gesture.
if (!chime.muted) chime.unlock();
showSound(chime.state);

// For debugging and browser tests: the feed (state, version, reconnect()).
window.mcburgerBoard = { feed, statuses: () => new Map(statuses) };
