// kiosk.js: the ordering kiosk (/). Menu with quantity steppers, a basket, "Place order"; then
// the order number, its status and estimated ready time, followed live until READY.
//
// DOM contract (browser tests rely on it):
//   li.menu-item[data-item=ID] > button.add ("Add <name>"), button.remove, .quantity (a number)
//   #basket > li[data-item=ID]        one line per item in the basket
//   button#place-order                disabled while the basket is empty (or an order is going)
//   #errors[role=alert]               422 validation messages and network errors, in words
//   #order (visible after placing) > #order-number, #order-status (text and data-status =
//     REQUESTED | IN_PROGRESS | READY | COLLECTED), #order-estimate; button#new-order
//   #order-estimate: with the order's range "Ready in 4–6 min", "Ready in about 5 min", "Ready
//     in up to 3 min" or "Ready any moment now" (.estimate-words), then "(around <time>)" while
//     the estimate is ahead; without a range (an older server, or an order estimated before
//     the ranges) "Estimated ready at <time> (in about N min)"; data-kind = range | point |
//     pending | ready
// Optional: ?transport=sse (or poll, or "sse,poll") limits the live-feed transports tried.

import { connectBoardFeed, describeState, transportsFromQuery } from "./live.js";

const MAX_PER_LINE = 20;        // as the API: OrderLineIn.quantity le=20
const MAX_UNITS = 50;           // as the API: at most 50 units per order
const REFRESH_EVERY_MS = 10000; // GET /orders/{n} while following, besides live changes
const TICK_MS = 5000;           // re-word "Ready in 4–6 min" as time passes
const AUTO_RETURN_MS = 120000;  // back to the menu this long after the order is READY
const AUTO_RETURN_COLLECTED_MS = 30000; // ... or after it is COLLECTED
const REQUEST_TIMEOUT_MS = 15000;
const RANK = { REQUESTED: 0, IN_PROGRESS: 1, READY: 2, COLLECTED: 3 };
const STATUS_WORDS = {
  REQUESTED: "Order received – waiting for the kitchen",
  IN_PROGRESS: "Being prepared",
  READY: "Ready! Please collect it at the counter",
  COLLECTED: "Collected – enjoy your meal!",
};

const $ = (id) => document.getElementById(id);
const el = {
  ordering: $("ordering"),
  menuStatus: $("menu-status"),
  menuItems: $("menu-items"),
  basket: $("basket"),
  basketEmpty: $("basket-empty"),
  basketUnits: $("basket-units"),
  basketUnitsWord: $("basket-units-word"),
  basketLimit: $("basket-limit"),
  errors: $("errors"),
  placeOrder: $("place-order"),
  order: $("order"),
  orderTitle: $("order-title"),
  orderNumber: $("order-number"),
  orderStatus: $("order-status"),
  orderStatusText: $("order-status-text"),
  orderEstimate: $("order-estimate"),
  orderNote: $("order-note"),
  orderItems: $("order-items"),
  newOrder: $("new-order"),
  connection: $("connection"),
  basketJump: $("basket-jump"),
  basketJumpUnits: $("basket-jump-units"),
};

/** @type {{id: string, name: string, prep_seconds: number, favorite: boolean}[]} */
let menu = [];
const basket = new Map(); // item id -> quantity
// The Idempotency-Key of this basket as it is: a retry of "Place order" after a timeout sends
// the same key, so the restaurant places the order once; any change to the basket, and every
// placed order, makes a new one (the server refuses a key reused with other items).
let basketKey = newKey();

function newKey() {
  // crypto.randomUUID needs a secure context; a kiosk on the shop's network may be plain http
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
let placing = false;
let order = null;         // the order being followed (the API's shape)
let timers = [];
let refreshing = null;
let refreshAgain = false;
let clockOffsetMs = 0;    // server clock minus this browser's, from the Date header
const recentChanges = new Map(); // number -> newest status the feed told, for a placing race
let feedState = "connecting";
let basketInView = false;  // is the Place order button on screen (phones)

// ---- HTTP ------------------------------------------------------------------------------

/** fetch JSON; resolves to {status, body} or throws a NetworkError with words for people. */
async function api(path, init = {}) {
  let response;
  try {
    response = await fetch(path, {
      cache: "no-store",
      ...init,
      headers: { accept: "application/json", ...(init.headers ?? {}) },
      signal: AbortSignal.timeout ? AbortSignal.timeout(REQUEST_TIMEOUT_MS) : undefined,
    });
  } catch (error) {
    const timedOut = error?.name === "TimeoutError" || error?.name === "AbortError";
    throw new NetworkError(timedOut ? "timeout" : "network");
  }
  const serverDate = Date.parse(response.headers.get("date") ?? "");
  if (Number.isFinite(serverDate)) clockOffsetMs = serverDate + 500 - Date.now();
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return { status: response.status, body };
}

class NetworkError extends Error {
  constructor(kind) {
    super(kind);
    this.kind = kind;
  }
}

// ---- words ------------------------------------------------------------------------------

function prepTime(seconds) {
  if (!Number.isFinite(seconds) || seconds <= 0) return "";
  if (seconds < 60) return `${Math.max(5, Math.round(seconds / 5) * 5)} s`;
  const halves = Math.round((seconds / 60) * 2);
  const whole = Math.floor(halves / 2);
  return `${whole}${halves % 2 ? "½" : ""} min`;
}

function itemName(id) {
  return menu.find((item) => item.id === id)?.name ?? id;
}

function units() {
  let total = 0;
  for (const quantity of basket.values()) total += quantity;
  return total;
}

/** Milliseconds of an API datetime (at most milliseconds kept: not every engine reads more). */
function parseTime(iso) {
  if (typeof iso !== "string") return NaN;
  return Date.parse(iso.trim().replace(/(\.\d{3})\d+/, "$1"));
}

function localTime(iso) {
  const date = new Date(parseTime(iso));
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** Words for the API's errors: 422 details become one sentence per problem. */
function problemsFrom(status, body, sent) {
  const detail = body?.detail;
  if (typeof detail === "string" && detail) return [detail];
  if (Array.isArray(detail) && detail.length) {
    return detail.map((problem) => {
      const loc = (Array.isArray(problem?.loc) ? problem.loc : []).filter((p) => p !== "body");
      let message = String(problem?.msg ?? "This order is not valid.");
      const path = loc.join(".");
      // The API's messages may start with the field path ("items.0.item: ..."): say it in words.
      if (path && message.startsWith(`${path}: `)) message = message.slice(path.length + 2);
      else message = message.replace(/^[a-z_]+(\.\w+)*: /, "");
      if (loc[0] === "items" && Number.isInteger(loc[1])) {
        const line = sent?.items?.[loc[1]];
        const known = line && menu.some((item) => item.id === line.item);
        let label = known ? itemName(line.item) : `Line ${loc[1] + 1}`;
        if (loc[2] === "quantity") label += " (quantity)";
        return `${label}: ${message}`;
      }
      return message;
    });
  }
  if (status >= 500) return [`The restaurant could not take the order just now (error ${status}). Please try again.`];
  return [`The order could not be placed (error ${status}).`];
}

function showErrors(messages) {
  el.errors.replaceChildren();
  if (!messages.length) return;
  const list = document.createElement("ul");
  for (const message of messages) {
    const item = document.createElement("li");
    item.textContent = message;
    list.append(item);
  }
  el.errors.append(list);
}

// ---- menu and basket --------------------------------------------------------------------

function hidden(text) {
  const span = document.createElement("span");
  span.className = "visually-hidden";
  span.textContent = text;
  return span;
}

function ariaHidden(text) {
  const span = document.createElement("span");
  span.setAttribute("aria-hidden", "true");
  span.textContent = text;
  return span;
}

function menuItem(item) {
  const li = document.createElement("li");
  li.className = "menu-item";
  li.dataset.item = item.id;
  li.dataset.favorite = String(Boolean(item.favorite));
  const nameId = `item-${item.id.replace(/[^\w-]/g, "_")}-name`;

  const info = document.createElement("div");
  info.className = "menu-item-info";
  const name = document.createElement("h3");
  name.className = "menu-item-name";
  name.id = nameId;
  name.textContent = item.name;
  const meta = document.createElement("p");
  meta.className = "menu-item-meta";
  const prep = document.createElement("span");
  prep.className = "prep";
  prep.append(hidden("Preparation time: "), prepTime(item.prep_seconds));
  meta.append(prep);
  if (item.favorite) {
    const badge = document.createElement("span");
    badge.className = "favorite";
    badge.append(ariaHidden("★ "), "Favourite");
    badge.title = "A favourite: often ready straight away";
    meta.append(" ", badge);
  }
  info.append(name, meta);

  const stepper = document.createElement("div");
  stepper.className = "stepper";
  stepper.setAttribute("role", "group");
  stepper.setAttribute("aria-labelledby", nameId);
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "remove";
  remove.append(ariaHidden("−"), hidden(`Remove ${item.name}`));
  const quantity = document.createElement("span");
  quantity.className = "quantity";
  quantity.textContent = "0";
  const add = document.createElement("button");
  add.type = "button";
  add.className = "add";
  add.append(ariaHidden("+ "), "Add", hidden(` ${item.name}`));
  remove.addEventListener("click", () => change(item.id, -1));
  add.addEventListener("click", () => change(item.id, +1));
  stepper.append(remove, quantity, add);

  li.append(info, stepper);
  return li;
}

function renderMenu() {
  el.menuItems.replaceChildren(...menu.map(menuItem));
  // an item that left the menu leaves the basket too
  for (const id of [...basket.keys()]) {
    if (!menu.some((item) => item.id === id)) basket.delete(id);
  }
  renderBasket();
}

let menuRetry = null;
async function loadMenu({ quiet = false } = {}) {
  clearTimeout(menuRetry);
  if (!quiet) el.menuStatus.textContent = "Loading the menu…";
  try {
    const { status, body } = await api("/menu");
    if (status !== 200 || !Array.isArray(body?.items)) throw new Error(`HTTP ${status}`);
    const changed = JSON.stringify(body.items) !== JSON.stringify(menu);
    menu = body.items;
    el.menuStatus.textContent = "";
    el.menuStatus.hidden = true;
    if (changed) renderMenu(); // re-rendering would drop the keyboard focus for nothing
  } catch {
    if (quiet && menu.length) return; // keep the menu we have
    el.menuStatus.hidden = false;
    el.menuStatus.textContent = "The menu could not be loaded. Trying again…";
    menuRetry = setTimeout(() => loadMenu(), 3000);
  }
}

function change(id, delta) {
  const now = basket.get(id) ?? 0;
  let next = now + delta;
  if (delta > 0) next = Math.min(next, MAX_PER_LINE, now + (MAX_UNITS - units()));
  next = Math.max(0, next);
  if (next === now) return;
  if (next === 0) basket.delete(id);
  else basket.set(id, next);
  basketKey = newKey();
  if (el.errors.childElementCount) showErrors([]); // the basket changed: old errors are moot
  renderBasket();
  // On a phone the "Your order" bar appears at the bottom: keep the item just changed above it
  // (the page's scroll-padding-bottom leaves room for the bar).
  el.menuItems.querySelector(`.menu-item[data-item="${CSS.escape(id)}"]`)
    ?.scrollIntoView({ block: "nearest" });
}

function renderBasket() {
  const total = units();
  for (const li of el.menuItems.querySelectorAll(".menu-item")) {
    const quantity = basket.get(li.dataset.item) ?? 0;
    li.querySelector(".quantity").textContent = String(quantity);
    li.classList.toggle("in-basket", quantity > 0);
    li.querySelector("button.remove").disabled = quantity === 0;
    li.querySelector("button.add").disabled = quantity >= MAX_PER_LINE || total >= MAX_UNITS;
  }

  const lines = menu.filter((item) => basket.has(item.id)).map((item) => {
    const li = document.createElement("li");
    li.dataset.item = item.id;
    const quantity = document.createElement("span");
    quantity.className = "line-quantity";
    quantity.textContent = String(basket.get(item.id));
    const name = document.createElement("span");
    name.className = "line-name";
    name.textContent = item.name;
    const drop = document.createElement("button");
    drop.type = "button";
    drop.className = "line-remove";
    drop.append("Remove one", hidden(` ${item.name}`));
    drop.addEventListener("click", () => {
      change(item.id, -1);
      // keep keyboard focus in the basket when the line disappears
      if (!basket.has(item.id)) ($("basket").querySelector("button") ?? $("basket-title")).focus();
    });
    li.append(quantity, " × ", name, drop);
    return li;
  });
  el.basket.replaceChildren(...lines);
  el.basketEmpty.hidden = lines.length > 0;
  el.basketUnits.textContent = String(total);
  el.basketUnitsWord.textContent = total === 1 ? "item" : "items";
  const full = total >= MAX_UNITS;
  const lineFull = [...basket.values()].some((q) => q >= MAX_PER_LINE);
  el.basketJump.hidden = total === 0 || order !== null || basketInView;
  el.basketJumpUnits.textContent = `${total} ${total === 1 ? "item" : "items"}`;
  el.basketLimit.textContent = full ? `An order holds at most ${MAX_UNITS} items.`
    : lineFull ? `At most ${MAX_PER_LINE} of one item per order.` : "";
  el.placeOrder.disabled = total === 0 || placing;
}

// ---- placing ----------------------------------------------------------------------------

async function placeOrder() {
  if (placing || units() === 0) return;
  placing = true;
  showErrors([]);
  el.placeOrder.textContent = "Placing your order…";
  el.placeOrder.setAttribute("aria-busy", "true");
  renderBasket();
  const sent = { items: [...basket].map(([item, quantity]) => ({ item, quantity })) };
  try {
    const { status, body } = await api("/orders", {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": basketKey },
      body: JSON.stringify(sent),
    });
    if (status === 201 && body && Number.isFinite(body.number)) {
      basket.clear();
      basketKey = newKey();
      follow(body);
    } else {
      showErrors(problemsFrom(status, body, sent));
    }
  } catch (error) {
    showErrors([error?.kind === "timeout"
      ? "The restaurant did not answer in time. Place the order again: it will not be placed twice."
      : "Could not reach the restaurant. Please check the connection and try again."]);
  } finally {
    placing = false;
    el.placeOrder.textContent = "Place order";
    el.placeOrder.removeAttribute("aria-busy");
    renderBasket();
  }
}

// ---- following an order -----------------------------------------------------------------

function clearTimers() {
  for (const timer of timers) {
    clearTimeout(timer);
    clearInterval(timer);
  }
  timers = [];
}

function follow(placed) {
  clearTimers();
  order = placed;
  const told = recentChanges.get(order.number);
  if (told && RANK[told] > RANK[order.status]) order = { ...order, status: told };
  el.orderNumber.textContent = String(order.number);
  el.orderItems.replaceChildren(...(order.items ?? []).map((line) => {
    const li = document.createElement("li");
    li.textContent = `${line.quantity} × ${itemName(line.item)}`;
    return li;
  }));
  el.ordering.hidden = true;
  el.basketJump.hidden = true;
  el.order.hidden = false;
  el.orderNote.textContent = "";
  renderOrder();
  el.orderTitle.focus();
  timers.push(setInterval(renderEstimate, TICK_MS));
  // followed until COLLECTED (live changes first; this GET is the safety net)
  timers.push(setInterval(() => { if (order.status !== "COLLECTED") refresh(); }, REFRESH_EVERY_MS));
  if (!done() && (order.estimated_ready_at == null || told)) refresh();
  if (done()) finished();
}

function done() {
  return order !== null && RANK[order.status] >= RANK.READY;
}

let returnTimer = null;
/** Back to the menu by itself a while after the order is READY (sooner once COLLECTED), so the
 *  next customer finds the menu; any touch on the screen restarts the wait. */
function finished() {
  clearTimeout(returnTimer);
  returnTimer = setTimeout(newOrder,
    order?.status === "COLLECTED" ? AUTO_RETURN_COLLECTED_MS : AUTO_RETURN_MS);
}

/** Take a newer view of the order (from GET /orders/{n} or the feed); never go back. */
function update(fresh) {
  if (!order || fresh.number !== order.number || !(fresh.status in RANK)) return;
  if (RANK[fresh.status] < RANK[order.status]) return;
  const before = order.status;
  order = { ...order, ...fresh };
  renderOrder();
  if (order.status !== before && done()) finished();
}

async function refresh() {
  if (!order) return;
  if (refreshing) {
    refreshAgain = true; // one more after the one running: it may predate the change
    return;
  }
  const number = order.number;
  refreshing = (async () => {
    try {
      const { status, body } = await api(`/orders/${number}`);
      if (status === 200 && body) {
        update(body);
        el.orderNote.textContent = "";
      }
    } catch {
      if (order?.number === number && !done()) {
        el.orderNote.textContent = "Checking for updates… (the connection is down, still trying)";
      }
    }
  })();
  await refreshing;
  refreshing = null;
  if (refreshAgain) {
    refreshAgain = false;
    refresh();
  }
}

function renderOrder() {
  if (!order) return;
  el.orderStatus.textContent = order.status;
  el.orderStatus.dataset.status = order.status;
  el.order.dataset.status = order.status;
  el.orderStatusText.textContent = STATUS_WORDS[order.status] ?? "";
  renderEstimate();
}

function timeElement(iso) {
  const time = document.createElement("time");
  time.dateTime = iso;
  time.textContent = localTime(iso);
  return time;
}

/** Whole minutes from `now` until `at` (ms), at least 1. */
function minutesUntil(at, now) {
  return Math.max(1, Math.round((at - now) / 60000));
}

/** The order's range in a customer's words ("in 4–6 min", "in about 5 min", "in up to 3 min",
 *  "any moment now"), counted from the server's clock; null without a range. The range holds
 *  8 orders in 10 (10th to 90th percentile), so its ends are said, not the median alone. */
function rangeWords(fromIso, byIso, now) {
  const from = parseTime(fromIso);
  const by = parseTime(byIso);
  if (!Number.isFinite(from) || !Number.isFinite(by)) return null;
  if (by <= now) return "any moment now";
  const high = minutesUntil(by, now);
  if (from <= now) return `in up to ${high} min`;
  const low = minutesUntil(from, now);
  return low >= high ? `in about ${high} min` : `in ${low}–${high} min`;
}

function renderEstimate() {
  if (!order) return;
  const target = el.orderEstimate;
  if (done()) {
    target.dataset.kind = "ready";
    if (order.ready_at) target.replaceChildren("Ready since ", timeElement(order.ready_at));
    else target.replaceChildren("Ready now");
    return;
  }
  const iso = order.estimated_ready_at;
  const at = iso ? parseTime(iso) : NaN;
  if (!Number.isFinite(at)) {
    target.dataset.kind = "pending";
    target.replaceChildren("Working out when it will be ready…");
    return;
  }
  const now = Date.now() + clockOffsetMs;
  const words = rangeWords(order.estimated_ready_from, order.estimated_ready_by, now);
  if (words !== null) {
    target.dataset.kind = "range";
    const said = document.createElement("strong");
    said.className = "estimate-words";
    said.textContent = `Ready ${words}`;
    if (at > now) target.replaceChildren(said, " (around ", timeElement(iso), ")");
    else target.replaceChildren(said);
    return;
  }
  target.dataset.kind = "point";
  const relative = at > now ? `in about ${minutesUntil(at, now)} min` : "any moment now";
  target.replaceChildren("Estimated ready at ", timeElement(iso), ` (${relative})`);
}

function newOrder() {
  clearTimers();
  clearTimeout(returnTimer);
  order = null;
  el.order.hidden = true;
  el.order.removeAttribute("data-status");
  el.ordering.hidden = false;
  showErrors([]);
  basket.clear();
  renderBasket();
  loadMenu({ quiet: true });
  (el.menuItems.querySelector("button.add:not(:disabled)") ?? $("menu-title")).focus();
}

// ---- live feed --------------------------------------------------------------------------

function remember(number, status) {
  recentChanges.delete(number);
  recentChanges.set(number, status);
  if (recentChanges.size > 200) recentChanges.delete(recentChanges.keys().next().value);
}

function onChange(change) {
  remember(change.number, change.status);
  if (order && change.number === order.number) {
    update({ number: change.number, status: change.status });
    refresh(); // the estimate (and ready_at) come from the order itself
  }
}

function onSnapshot(snapshot) {
  recentChanges.clear();
  for (const [key, status] of [["requested", "REQUESTED"], ["in_progress", "IN_PROGRESS"],
    ["ready", "READY"]]) {
    for (const number of snapshot[key]) remember(number, status);
  }
  if (order && order.status !== "COLLECTED") {
    const status = recentChanges.get(order.number);
    if (status) update({ number: order.number, status });
    refresh();
  }
}

function onState(state) {
  feedState = state;
  el.connection.dataset.state = state;
  el.connection.textContent = describeState(state);
}

const feed = connectBoardFeed({
  transports: transportsFromQuery() ?? undefined,
  onSnapshot,
  onChange,
  onState,
});

// ---- start ------------------------------------------------------------------------------

// the phone's "Your order" bar is not needed while the basket itself is on screen
if (typeof IntersectionObserver === "function") {
  new IntersectionObserver((entries) => {
    basketInView = entries.some((entry) => entry.isIntersecting);
    renderBasket();
  }).observe(el.placeOrder);
}

el.placeOrder.addEventListener("click", placeOrder);
el.newOrder.addEventListener("click", newOrder);
document.addEventListener("click", () => {
  if (order && done()) finished(); // someone is still looking at it
});
renderBasket();
loadMenu();

// For debugging and browser tests.
window.mcburgerKiosk = { feed, get order() { return order; }, get feedState() { return feedState; } };
