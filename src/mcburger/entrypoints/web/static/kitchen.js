// Kitchen display: each worker's unit, the FIFO queue with age colours, stock of the
// favourites, FF.1, the READY orders with a "Collected" button, and the orders past their
// promise.
//
// Data: polls GET /kitchen, /stock and /orders?status=READY every second (GET /menu until it
// has it); the /board/ws feed, when it is reachable, only triggers an earlier poll.
// Times: every timer is KITCHEN time = wall-clock elapsed × the kitchen's `speed`. The promise
// is not a timer: it is the wall-clock time the customer was told (the high end of the range
// given at placement), compared with the server-corrected wall clock, whatever the speed.
// Past promise: GET /kitchen gives each queued unit and busy worker its order's
// `promised_ready_by`, and `waiting` lists every order not READY yet with its promise (bounded
// reads on the server: the orders in the kitchen and on the board, never the history). An
// order with a unit in the queue or on a worker is not READY, so once that time has passed on
// the server's clock its rows say "Past promise" (li[data-late="true"] > .k-late); the header
// counts and names every late order (#late-orders, data-count), also one with no row here
// (waiting on stock a worker is making for it, or on its units being asked for).
// Query string: ?green=180&yellow=300 (age thresholds, kitchen seconds), ?clock=local (trust the
// browser's clock, no correction from the server's Date header), ?ws=0 (no WebSocket).

import { staffFetch } from './staff.js';

const POLL_MS = 1000;
const REQUEST_TIMEOUT_MS = 4000;
const MIN_POLL_GAP_MS = 200;         // an early poll (WebSocket, after Collected) waits at least this
const DEFAULT_GREEN = 180;           // kitchen seconds: green below, yellow below DEFAULT_YELLOW
const DEFAULT_YELLOW = 300;
const FALLBACK_TARGET = 3;           // if GET /kitchen does not say (older servers)
const FALLBACK_SPEED = 1;
const DATE_HEADER_SLACK_MS = 2500;   // a Date header is whole seconds and may be cached ~1 s
const ERROR_LIFETIME_MS = 20000;
// Ages of a queued unit; "late" is kept for an order past its promise (the header, the marks).
const AGE_LABELS = { green: 'fresh', yellow: 'waiting', red: 'waiting long' };
const AGE_SYMBOLS = { green: '●', yellow: '▲', red: '■' };

const params = new URLSearchParams(location.search);
const thresholds = readThresholds(params);

const $ = (selector, root = document) => root.querySelector(selector);
const ui = {
  workers: $('#workers .k-worker-list'),
  workersEmpty: $('#workers .k-empty'),
  queue: $('#queue .k-queue-list'),
  queueEmpty: $('#queue .k-empty'),
  queueCount: $('#queue .k-count'),
  stock: $('#stock .k-stock-list'),
  stockEmpty: $('#stock .k-empty'),
  ready: $('#ready-orders .k-ready-list'),
  readyEmpty: $('#ready-orders .k-empty'),
  readyCount: $('#ready-orders .k-count'),
  readyTitle: $('#ready-title'),
  favoritesFirst: $('#favorites-first'),
  speedNote: $('#speed-note'),
  lateOrders: $('#late-orders'),
  connection: $('#connection'),
  connectionText: $('#connection .k-connection-text'),
  errors: $('#errors'),
};

const state = {
  menu: null,           // Map id -> {name, favorite}, in menu order
  kitchen: null,        // normalised GET /kitchen
  stock: null,          // {id: count}
  ready: [],            // GET /orders?status=READY orders, as given (oldest first)
  online: null,         // null until the first poll ends
  lastSuccess: null,    // Date of the last poll where everything answered
};

// ---------------------------------------------------------------- configuration

function readThresholds(query) {
  const problems = [];
  const read = (name) => {
    const raw = query.get(name);
    if (raw === null || raw.trim() === '') return undefined;
    const value = Number(raw);
    if (Number.isFinite(value) && value >= 0) return value;
    problems.push(`${name}=${raw}`);
    return undefined;
  };
  let green = read('green');
  let yellow = read('yellow');
  if (green !== undefined && yellow !== undefined && yellow < green) {
    problems.push(`yellow=${yellow} is below green=${green}`);
    green = undefined;
    yellow = undefined;
  }
  if (green === undefined) green = yellow !== undefined ? Math.min(DEFAULT_GREEN, yellow) : DEFAULT_GREEN;
  if (yellow === undefined) yellow = Math.max(DEFAULT_YELLOW, green);
  return { green, yellow, problems };
}

function ageClass(seconds) {
  if (seconds < thresholds.green) return 'green';
  if (seconds < thresholds.yellow) return 'yellow';
  return 'red';
}

// ---------------------------------------------------------------- time

// Offset of the server's clock from the browser's, learnt from Date headers: the smallest
// correction consistent with every answer (0 while the clocks agree), so a kitchen screen with
// an unsynchronised clock still shows the right timers.
const clock = { lo: -Infinity, hi: Infinity, offset: 0, enabled: params.get('clock') !== 'local' };

function learnClock(dateHeader, sentAt, receivedAt) {
  if (!clock.enabled || !dateHeader) return;
  const server = Date.parse(dateHeader);
  if (!Number.isFinite(server)) return;
  const lo = server - receivedAt;
  const hi = server + DATE_HEADER_SLACK_MS - sentAt;
  if (Math.max(lo, clock.lo) > Math.min(hi, clock.hi)) {  // a clock was changed: start over
    clock.lo = lo;
    clock.hi = hi;
  } else {
    clock.lo = Math.max(lo, clock.lo);
    clock.hi = Math.min(hi, clock.hi);
  }
  clock.offset = Math.min(Math.max(0, clock.lo), clock.hi);
}

const serverNow = () => Date.now() + clock.offset;

function parseTime(text) {
  if (typeof text !== 'string') return NaN;
  // at most milliseconds; a time without a zone is UTC (the server's convention)
  let iso = text.trim().replace(/(\.\d{3})\d+/, '$1');
  if (!/(Z|[+-]\d\d:?\d\d)$/i.test(iso)) iso += 'Z';
  return Date.parse(iso);
}

/** Kitchen seconds since `startedMs` (wall-clock ms on the server's clock). */
function kitchenSeconds(startedMs, now, speed) {
  if (!Number.isFinite(startedMs)) return NaN;
  return Math.max(0, ((now - startedMs) / 1000) * speed);
}

function formatDuration(totalSeconds) {
  if (!Number.isFinite(totalSeconds)) return '–';
  const s = Math.max(0, Math.floor(totalSeconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const seconds = String(s % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${seconds}` : `${minutes}:${seconds}`;
}

function formatClock(date) {
  return date ? date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }) : 'never';
}

// ---------------------------------------------------------------- HTTP

class HttpError extends Error {
  constructor(path, status, detail) {
    super(detail || `HTTP ${status}`);
    this.path = path;
    this.status = status;
    this.detail = detail;
  }
}

async function detailOf(response) {
  try {
    const body = await response.json();
    if (typeof body?.detail === 'string') return body.detail;
    if (Array.isArray(body?.detail)) return body.detail.map((d) => d.msg ?? String(d)).join('; ');
  } catch { /* not JSON */ }
  return '';
}

async function request(path, options = {}) {
  const sentAt = Date.now();
  try {
    // as staff: /kitchen, /stock, /orders and collecting need the staff token; the time limit
    // is each trip's, not the sign-in dialog's
    const response = await staffFetch(path, {
      cache: 'no-store', headers: { accept: 'application/json' }, ...options,
    }, REQUEST_TIMEOUT_MS);
    learnClock(response.headers.get('date'), sentAt, Date.now());
    if (!response.ok) throw new HttpError(path, response.status, await detailOf(response));
    return await response.json();
  } catch (error) {
    if (error instanceof HttpError) throw error;
    const reason = error?.name === 'AbortError' ? 'timed out' : 'no answer';
    throw Object.assign(new Error(`${path}: ${reason}`), { path, network: true });
  }
}

// ---------------------------------------------------------------- data shapes

function setMenu(document) {
  const items = Array.isArray(document?.items) ? document.items : [];
  state.menu = new Map(items.filter((i) => typeof i?.id === 'string')
    .map((i) => [i.id, { name: i.name || i.id, favorite: i.favorite === true }]));
}

const nameOf = (id) => state.menu?.get(id)?.name ?? id ?? '';

function normaliseKitchen(doc) {
  const speedKnown = typeof doc?.speed === 'number' && doc.speed > 0;
  const targetKnown = Number.isInteger(doc?.stock_target) && doc.stock_target >= 0;
  return {
    workers: (Array.isArray(doc?.workers) ? doc.workers : []).map((w) => ({
      id: w.id,
      busy: w.state === 'busy',
      item: w.item ?? null,
      orderNumber: w.order_number ?? null,
      startedMs: parseTime(w.started_at),
      promisedMs: parseTime(w.promised_ready_by),  // NaN: no promise (refill, older server)
    })),
    queue: (Array.isArray(doc?.queue) ? doc.queue : []).map((u) => ({
      item: u.item,
      orderNumber: u.order_number ?? null,
      queuedMs: parseTime(u.queued_at),
      promisedMs: parseTime(u.promised_ready_by),
    })),
    // every order not READY yet with its promise: one past it is flagged even with no row
    // here (waiting on stock a worker is making); an older server sends none
    waiting: (Array.isArray(doc?.waiting) ? doc.waiting : [])
      .filter((o) => Number.isInteger(o?.number))
      .map((o) => ({ number: o.number, promisedMs: parseTime(o.promised_ready_by) })),
    favoritesFirst: doc?.favorites_first === true,
    speed: speedKnown ? doc.speed : FALLBACK_SPEED,
    speedKnown,
    stockTarget: targetKnown ? doc.stock_target : FALLBACK_TARGET,
    targetKnown,
  };
}

// ---------------------------------------------------------------- rendering helpers

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function setAttr(node, name, value) {
  if (node.getAttribute(name) !== value) node.setAttribute(name, value);
}

/** Order label + number; "refill" (a favourite made for stock) when there is no order. */
function orderBlock() {
  const wrap = el('span', 'k-order');
  wrap.append(el('span', 'k-order-label', 'Order'), ' ', el('span', 'order-number'));
  return wrap;
}

function fillOrder(wrap, orderNumber) {
  const refill = orderNumber === null || orderNumber === undefined;
  wrap.classList.toggle('k-refill', refill);
  setText(wrap.querySelector('.k-order-label'), refill ? 'For stock:' : 'Order');
  setText(wrap.querySelector('.order-number'), refill ? 'refill' : String(orderNumber));
}

/** "Past promise": shown on a row whose order is late (text, not colour alone). */
function lateMark() {
  const mark = el('span', 'k-late');
  mark.append(el('span', '', '⚠'), ' Past promise');
  mark.firstChild.setAttribute('aria-hidden', 'true');
  mark.hidden = true;
  return mark;
}

/** Remember on `li` which order it serves and that order's promise (ms; '' for none). */
function setPromise(li, orderNumber, promisedMs) {
  const known = orderNumber !== null && orderNumber !== undefined && Number.isFinite(promisedMs);
  setAttr(li, 'data-order', orderNumber === null || orderNumber === undefined ? '' : String(orderNumber));
  setAttr(li, 'data-promised', known ? String(promisedMs) : '');
  const mark = li.querySelector('.k-late');
  if (known) setAttr(mark, 'title', `Promised by ${formatClock(new Date(promisedMs))}`);
  else mark.removeAttribute('title');
}

/** Put `nodes` into `list` in that order, keeping nodes that stay (and their focus). */
function reconcile(list, nodes) {
  const focused = document.activeElement;
  const keep = new Set(nodes);
  for (const child of [...list.children]) {
    if (!keep.has(child)) {
      if (child.contains(focused)) moveFocusAway(list, child, keep);
      child.remove();
    }
  }
  nodes.forEach((node, index) => {
    if (list.children[index] !== node) list.insertBefore(node, list.children[index] ?? null);
  });
  if (focused && focused !== document.activeElement && focused.isConnected) {
    focused.focus({ preventScroll: true });
  }
}

function moveFocusAway(list, leaving, staying) {
  const siblings = [...list.children];
  const at = siblings.indexOf(leaving);
  const next = siblings.slice(at + 1).find((n) => staying.has(n))
    ?? siblings.slice(0, at).reverse().find((n) => staying.has(n));
  const target = next?.querySelector('button') ?? (list === ui.ready ? ui.readyTitle : null);
  target?.focus({ preventScroll: true });
}

// ---------------------------------------------------------------- rendering

function renderHeader() {
  const kitchen = state.kitchen;
  if (!kitchen) return;
  const on = kitchen.favoritesFirst;
  setAttr(ui.favoritesFirst, 'data-on', String(on));
  ui.favoritesFirst.replaceChildren(
    'Favourites first (FF.1): ', el('strong', '', on ? 'ON' : 'OFF'),
    el('span', 'k-ff-detail', on ? ' — idle workers refill favourites before order units'
      : ' — order units come first'));
  const speed = kitchen.speed;
  const shown = Number.isInteger(speed) ? String(speed) : speed.toFixed(2).replace(/0+$/, '');
  let note = speed === 1
    ? 'Timers show kitchen time (speed ×1: real time).'
    : `Timers show kitchen time: the kitchen runs at ×${shown}, so 1 real second = ${shown} kitchen seconds.`;
  if (!kitchen.speedKnown) note += ' The server did not report its speed; assuming ×1.';
  setText(ui.speedNote, note);
}

function renderWorkers() {
  const workers = state.kitchen?.workers ?? [];
  const nodes = workers.map((worker) => {
    let li = ui.workers.querySelector(`:scope > li[data-worker="${CSS.escape(String(worker.id))}"]`);
    if (!li) {
      li = el('li', 'k-worker');
      li.dataset.worker = String(worker.id);
      const head = el('div', 'k-worker-head');
      head.append(el('span', 'k-worker-name', `Worker ${worker.id}`), ' ', el('span', 'k-state'));
      const elapsed = el('span', 'k-elapsed-wrap');
      elapsed.append(el('span', 'elapsed'), ' ', el('span', 'k-unit', 'kitchen time'));
      li.append(head, ' ', el('span', 'item'), ' ', orderBlock(), ' ', lateMark(), ' ', elapsed);
    }
    setAttr(li, 'data-state', worker.busy ? 'busy' : 'idle');
    setText(li.querySelector('.k-state'), worker.busy ? 'Busy' : 'Idle');
    const item = li.querySelector('.item');
    setText(item, worker.busy ? nameOf(worker.item) : '');
    setAttr(item, 'data-id', worker.busy ? String(worker.item ?? '') : '');
    const order = li.querySelector('.k-order');
    const elapsedWrap = li.querySelector('.k-elapsed-wrap');
    const elapsed = li.querySelector('.elapsed');
    order.hidden = !worker.busy;
    elapsedWrap.hidden = !worker.busy;
    setPromise(li, worker.busy ? worker.orderNumber : null, worker.promisedMs);
    if (worker.busy) {
      fillOrder(order, worker.orderNumber);
      elapsed.dataset.started = String(worker.startedMs);
    } else {
      setText(li.querySelector('.order-number'), '');
      delete elapsed.dataset.started;
      delete elapsed.dataset.seconds;
      setText(elapsed, '');
    }
    return li;
  });
  reconcile(ui.workers, nodes);
  ui.workersEmpty.hidden = workers.length > 0;
}

function renderQueue() {
  const queue = state.kitchen?.queue ?? [];
  const existing = [...ui.queue.children];
  const nodes = queue.map((unit, index) => {
    let li = existing[index];
    if (!li) {
      li = el('li', 'k-unit-row');
      const age = el('span', 'k-age');
      age.append(el('span', 'k-swatch'), ' ', el('span', 'age'), ' ', el('span', 'age-label'));
      li.append(el('span', 'item'), ' ', orderBlock(), ' ', age, ' ', lateMark());
    }
    li.dataset.item = String(unit.item);
    li.dataset.queued = String(unit.queuedMs);
    setPromise(li, unit.orderNumber, unit.promisedMs);
    setText(li.querySelector('.item'), nameOf(unit.item));
    fillOrder(li.querySelector('.k-order'), unit.orderNumber);
    return li;
  });
  reconcile(ui.queue, nodes);
  ui.queueEmpty.hidden = queue.length > 0;
  setText(ui.queueCount, state.kitchen ? `(${queue.length})` : '');
  tick(false);
}

function renderStock() {
  if (!state.stock) return;
  const target = state.kitchen?.stockTarget ?? FALLBACK_TARGET;
  const ids = state.menu
    ? [...state.menu].filter(([, item]) => item.favorite).map(([id]) => id)
    : Object.keys(state.stock);
  const nodes = ids.map((id) => {
    let li = ui.stock.querySelector(`:scope > li[data-item="${CSS.escape(id)}"]`);
    if (!li) {
      li = el('li', 'k-stock-row');
      li.dataset.item = id;
      const figures = el('span', 'k-figures');
      figures.append(el('span', 'count'), el('span', 'k-of', ' of '), el('span', 'target'));
      const bar = el('span', 'k-bar');
      bar.setAttribute('aria-hidden', 'true');
      bar.append(el('span', 'k-bar-fill'));
      li.append(el('span', 'k-stock-name'), ' ', figures, ' ', bar, el('span', 'k-stock-status'));
    }
    const count = Number(state.stock[id] ?? 0);
    const level = count <= 0 ? 'empty' : count < target ? 'low' : 'full';
    setAttr(li, 'data-level', level);
    setText(li.querySelector('.k-stock-name'), nameOf(id));
    setText(li.querySelector('.count'), String(count));
    setText(li.querySelector('.target'), String(target));
    const status = level === 'full' ? (count > target ? `${count - target} over` : 'full')
      : level === 'empty' ? 'empty' : `${target - count} short`;
    setText(li.querySelector('.k-stock-status'), status);
    const fill = target > 0 ? Math.min(100, (count / target) * 100) : (count > 0 ? 100 : 0);
    li.querySelector('.k-bar-fill').style.width = `${fill}%`;
    return li;
  });
  reconcile(ui.stock, nodes);
  ui.stockEmpty.hidden = nodes.length > 0;
}

function renderReady() {
  const nodes = state.ready.map((order) => {
    const number = String(order.number);
    let li = ui.ready.querySelector(`:scope > li[data-number="${CSS.escape(number)}"]`);
    if (!li) {
      li = el('li', 'k-ready-row');
      li.dataset.number = number;
      const label = el('span', 'k-ready-number');
      label.id = `ready-order-${number}`;
      label.append(el('span', 'k-visually-hidden', 'Order '), number);
      const button = el('button', 'collect', 'Collected');
      button.type = 'button';
      button.setAttribute('aria-describedby', label.id);
      button.addEventListener('click', () => collect(order.number, li, button));
      li.append(label, ' ', el('span', 'k-ready-items'), ' ', button);
    }
    const lines = Array.isArray(order.items) ? order.items : [];
    setText(li.querySelector('.k-ready-items'),
      lines.map((line) => `${line.quantity}× ${nameOf(line.item)}`).join(', '));
    return li;
  });
  reconcile(ui.ready, nodes);
  ui.readyEmpty.hidden = nodes.length > 0;
  setText(ui.readyCount, `(${nodes.length})`);
}

function renderLegend() {
  const { green, yellow, problems } = thresholds;
  setText($('.k-legend-green'), `${AGE_LABELS.green}: under ${formatDuration(green)}`);
  setText($('.k-legend-yellow'), yellow > green
    ? `${AGE_LABELS.yellow}: ${formatDuration(green)} to ${formatDuration(yellow)}`
    : `${AGE_LABELS.yellow}: not used`);
  setText($('.k-legend-red'), `${AGE_LABELS.red}: ${formatDuration(yellow)} or more`);
  const warning = $('.k-legend-warning');
  warning.hidden = problems.length === 0;
  setText(warning, problems.length
    ? `Ignored ${problems.join(', ')} in the address: thresholds are seconds, yellow ≥ green.` : '');
}

// Timers: between polls, only the texts that depend on the time change.
let tickTimer = null;

function tick(reschedule = true) {
  const now = serverNow();
  const speed = state.kitchen?.speed ?? FALLBACK_SPEED;
  for (const node of ui.workers.querySelectorAll('.elapsed[data-started]')) {
    const seconds = kitchenSeconds(Number(node.dataset.started), now, speed);
    setText(node, formatDuration(seconds));
    setAttr(node, 'data-seconds', Number.isFinite(seconds) ? String(Math.floor(seconds)) : '');
  }
  for (const li of ui.queue.children) {
    const seconds = kitchenSeconds(Number(li.dataset.queued), now, speed);
    const age = Number.isFinite(seconds) ? ageClass(seconds) : 'green';
    setAttr(li, 'data-age', age);
    setAttr(li, 'data-age-seconds', Number.isFinite(seconds) ? String(Math.floor(seconds)) : '');
    setText(li.querySelector('.k-swatch'), AGE_SYMBOLS[age]);
    setText(li.querySelector('.age'), formatDuration(seconds));
    setText(li.querySelector('.age-label'), AGE_LABELS[age]);
  }
  renderLate(now);
  if (reschedule) {
    clearTimeout(tickTimer);
    // every second, more often at a high speed so kitchen seconds do not jump too far
    tickTimer = setTimeout(tick, Math.max(200, Math.min(1000, 1000 / speed)));
  }
}

/** Mark the rows of orders past their promise at `now` (server clock, wall time: a promise is
 *  what the customer was told, not kitchen time) and count those orders in the header, with
 *  the late orders that have no row (GET /kitchen's `waiting`). */
function renderLate(now) {
  const late = new Set();
  for (const li of [...ui.workers.children, ...ui.queue.children]) {
    const promised = li.dataset.promised ? Number(li.dataset.promised) : NaN;
    const past = Number.isFinite(promised) && promised < now;
    setAttr(li, 'data-late', String(past));
    const mark = li.querySelector('.k-late');
    if (mark) mark.hidden = !past;
    if (past) late.add(Number(li.dataset.order));
  }
  for (const order of state.kitchen?.waiting ?? []) {
    if (Number.isFinite(order.promisedMs) && order.promisedMs < now) late.add(order.number);
  }
  const numbers = [...late].sort((a, b) => a - b);
  setAttr(ui.lateOrders, 'data-count', String(numbers.length));
  setText(ui.lateOrders, numbers.length === 0 ? 'No order past its promise'
    : numbers.length === 1 ? `1 order past its promise (order ${numbers[0]})`
      : `${numbers.length} orders past their promise (orders ${numbers.join(', ')})`);
}

// ---------------------------------------------------------------- connection and errors

function setConnection(failures) {
  const online = failures.length === 0;
  if (online) state.lastSuccess = new Date();
  if (online === state.online && online) return;
  setAttr(ui.connection, 'data-state', online ? 'online' : 'offline');
  document.body.classList.toggle('k-offline', !online);
  if (online) {
    setText(ui.connectionText, 'Live');
  } else {
    const first = failures[0];
    const why = first instanceof HttpError ? `${first.path} answered ${first.status}`
      : 'cannot reach the server';
    const since = state.lastSuccess ? `showing data from ${formatClock(state.lastSuccess)}` : 'no data yet';
    setText(ui.connectionText, `Offline — ${why}; retrying every second, ${since}.`);
  }
  state.online = online;
}

function showError(message) {
  const item = el('p', 'k-error');
  const dismiss = el('button', 'k-dismiss', 'Dismiss');
  dismiss.type = 'button';
  dismiss.addEventListener('click', () => item.remove());
  item.append(el('span', 'k-error-text', message), ' ', dismiss);
  ui.errors.append(item);
  while (ui.errors.children.length > 3) ui.errors.firstElementChild.remove();
  setTimeout(() => {
    if (!item.contains(document.activeElement)) item.remove();
  }, ERROR_LIFETIME_MS);
}

// ---------------------------------------------------------------- polling

let pollSeq = 0;
let polling = false;
let pollAgain = false;
let pollTimer = null;
let lastPollStart = 0;
// order number -> last poll seq started before it was collected: such polls may still list it
const collected = new Map();

async function poll() {
  clearTimeout(pollTimer);
  pollTimer = null;
  if (polling) {
    pollAgain = true;
    return;
  }
  polling = true;
  const seq = ++pollSeq;
  lastPollStart = performance.now();
  try {
    const jobs = [request('/kitchen'), request('/stock'), request('/orders?status=READY')];
    if (!state.menu) jobs.push(request('/menu'));
    const [kitchen, stock, ready, menu] = await Promise.allSettled(jobs);
    if (menu?.status === 'fulfilled') setMenu(menu.value);
    if (kitchen.status === 'fulfilled') state.kitchen = normaliseKitchen(kitchen.value);
    if (stock.status === 'fulfilled') state.stock = stock.value?.items ?? {};
    if (ready.status === 'fulfilled') {
      const orders = Array.isArray(ready.value?.orders) ? ready.value.orders : [];
      state.ready = orders.filter((o) => !(collected.get(o.number) >= seq));
      for (const [number, before] of collected) if (before < seq) collected.delete(number);
    }
    render();
    setConnection([kitchen, stock, ready, menu].filter((r) => r?.status === 'rejected')
      .map((r) => r.reason));
  } catch (error) {
    console.error('kitchen: render failed', error);
  } finally {
    polling = false;
    if (pollAgain) {
      pollAgain = false;
      pollSoon();
    } else {
      pollTimer = setTimeout(poll, Math.max(0, POLL_MS - (performance.now() - lastPollStart)));
    }
  }
}

/** Poll early (something changed), but not more often than every MIN_POLL_GAP_MS. */
function pollSoon() {
  if (polling) {
    pollAgain = true;
    return;
  }
  clearTimeout(pollTimer);
  pollTimer = setTimeout(poll, Math.max(0, MIN_POLL_GAP_MS - (performance.now() - lastPollStart)));
}

function render() {
  renderHeader();
  renderWorkers();
  renderQueue();
  renderStock();
  renderReady();
}

// ---------------------------------------------------------------- Collected

async function collect(number, li, button) {
  if (button.getAttribute('aria-disabled') === 'true') return;
  button.setAttribute('aria-disabled', 'true');
  li.setAttribute('aria-busy', 'true');
  try {
    await request(`/orders/${encodeURIComponent(number)}/collect`, { method: 'POST' });
    forget(number);
  } catch (error) {
    if (error instanceof HttpError && (error.status === 409 || error.status === 404)) {
      // not READY (any more): it does not belong on this list
      showError(`Order ${number} not marked collected: ${error.detail || `HTTP ${error.status}`}.`);
      forget(number);
    } else if (error instanceof HttpError) {
      showError(`Order ${number} not marked collected: the server answered ${error.status}` +
        `${error.detail ? ` (${error.detail})` : ''}. Try again.`);
    } else {
      showError(`Order ${number} not marked collected: cannot reach the server. Try again.`);
    }
  } finally {
    button.removeAttribute('aria-disabled');
    li.removeAttribute('aria-busy');
  }
}

function forget(number) {
  collected.set(number, pollSeq);
  state.ready = state.ready.filter((o) => o.number !== number);
  renderReady();
  pollSoon();
}

// ---------------------------------------------------------------- board feed (optional)

function connectBoard(retryMs = 1000) {
  if (params.get('ws') === '0' || !('WebSocket' in window)) return;
  let socket;
  try {
    socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/board/ws`);
  } catch {
    return;
  }
  let opened = false;
  let snapshot = true;
  socket.addEventListener('open', () => { opened = true; });
  socket.addEventListener('message', () => {
    if (snapshot) {
      snapshot = false;  // the first message is the board as it is: nothing new
      return;
    }
    pollSoon();          // a status changed: READY list, queue and workers may have too
  });
  socket.addEventListener('close', () => {
    const next = opened ? 1000 : Math.min(retryMs * 2, 30000);
    setTimeout(() => connectBoard(next), opened ? 1000 : retryMs);
  });
}

// ---------------------------------------------------------------- start

renderLegend();
poll();
tick();
connectBoard();
