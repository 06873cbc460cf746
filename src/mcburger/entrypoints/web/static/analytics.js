// Analytics page: reads /analytics/* every 5 s and draws each chart as inline SVG.
// No libraries, no build step. Durations from the API are kitchen seconds (wall x speed).
// Each chart's <svg data-points="N">: N = data points drawn (orders for the wait histogram
// and the estimate scatter, bars for the accuracy by time to ready, time buckets for the others).

import { staffFetch } from "./staff.js";

const REFRESH_MS = 5000;
const SVG_NS = "http://www.w3.org/2000/svg";
const MAX_BUCKETS = 60;
const ESTIMATES_LIMIT = 500;
const BUCKETS = [60, 120, 300, 600, 900, 1800, 3600]; // kitchen seconds the page may ask for
const MARGIN = { top: 24, right: 18, bottom: 46, left: 58 };
const BEFORE_READY = [300, 120, 60]; // kitchen seconds before READY the API judges estimates at
const RANGE_AIM = 0.8; // the ranges run from the 10th to the 90th percentile

const state = { summary: null, items: [], estimates: [], timeline: null };

// --- formatting ---------------------------------------------------------------------------

function isNumber(value) {
  return typeof value === "number" && Number.isFinite(value);
}

function duration(seconds) {
  if (!isNumber(seconds)) return "–";
  const sign = seconds < 0 ? "−" : "";
  const s = Math.abs(seconds);
  if (s < 60) return `${sign}${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const whole = Math.round(s);
  if (whole < 3600) {
    return `${sign}${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, "0")} s`;
  }
  const minutes = Math.round(whole / 60);
  return `${sign}${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

function interval(seconds) {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  return seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;
}

function clock(kitchenSeconds) {
  const minutes = Math.floor(kitchenSeconds / 60);
  return `${Math.floor(minutes / 60)}:${String(minutes % 60).padStart(2, "0")}`;
}

function percent(share) {
  return isNumber(share) ? `${Math.round(share * 100)} %` : "–";
}

function number(value, digits = 0) {
  return isNumber(value) ? value.toFixed(digits) : "–";
}

function withWall(kitchen, wall) {
  const main = duration(kitchen);
  return isNumber(wall) && kitchen !== wall ? `${main} <small>(${duration(wall)} wall)</small>` : main;
}

/** Seconds since 1970 of an ISO time, to the microsecond the API gives (Date keeps ms). */
function wallSeconds(iso) {
  const fraction = /\.(\d+)/.exec(iso)?.[1] ?? "0";
  return Math.floor(Date.parse(iso) / 1000) + Number(`0.${fraction}`);
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// --- numbers for charts -------------------------------------------------------------------

function niceStep(rough) {
  if (!(rough > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(rough));
  const fraction = rough / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
}

function ticks(min, max, count = 5, step = niceStep((max - min) / count)) {
  const found = [];
  for (let value = Math.ceil(min / step) * step; value <= max + step * 1e-9; value += step) {
    found.push(Number(value.toFixed(10)));
  }
  return found;
}

function timeStep(range) {
  const steps = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  return steps.find((step) => range / step <= 6) ?? 86400;
}

function unitFor(maxSeconds) {
  if (maxSeconds >= 7200) return { divide: 3600, name: "hours" };
  if (maxSeconds >= 120) return { divide: 60, name: "minutes" };
  return { divide: 1, name: "seconds" };
}

function percentile(sorted, fraction) {
  if (!sorted.length) return null;
  const rank = fraction * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.min(low + 1, sorted.length - 1);
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
}

function chooseBucket(kitchenSeconds) {
  const rough = (kitchenSeconds || 0) / MAX_BUCKETS;
  return BUCKETS.find((bucket) => bucket >= rough) ?? BUCKETS[BUCKETS.length - 1];
}

// --- SVG ----------------------------------------------------------------------------------

function svgElement(name, attributes = {}, text = null) {
  const element = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (text !== null) element.textContent = text;
  return element;
}

/** Clear ``svg`` and draw the axes; return scales and the group to draw the data into. */
function svgSize(svg) {
  const box = svg.getBoundingClientRect();
  return { width: Math.max(260, Math.round(box.width) || 600), height: Math.max(180, Math.round(box.height) || 260) };
}

function frame(svg, { xDomain, yDomain, xTicks, yTicks, xFormat, yFormat, xLabel, yLabel }) {
  const { width, height } = svgSize(svg);
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const left = MARGIN.left, right = width - MARGIN.right;
  const top = MARGIN.top, bottom = height - MARGIN.bottom;
  const span = (domain) => (domain[1] - domain[0]) || 1;
  const x = (value) => left + ((value - xDomain[0]) / span(xDomain)) * (right - left);
  const y = (value) => bottom - ((value - yDomain[0]) / span(yDomain)) * (bottom - top);

  const axes = svgElement("g", { class: "a-axis", "aria-hidden": "true" });
  for (const value of yTicks) {
    axes.append(svgElement("line", { class: "a-gridline", x1: left, x2: right, y1: y(value), y2: y(value) }));
    axes.append(svgElement("text", { x: left - 6, y: y(value) + 4, "text-anchor": "end" }, yFormat(value)));
  }
  const xEvery = Math.max(1, Math.ceil(xTicks.length / Math.max(2, Math.floor((right - left) / 60))));
  xTicks.forEach((value, index) => {
    if (index % xEvery) return;
    axes.append(svgElement("line", { x1: x(value), x2: x(value), y1: bottom, y2: bottom + 5 }));
    axes.append(svgElement("text", { x: x(value), y: bottom + 18, "text-anchor": "middle" }, xFormat(value)));
  });
  axes.append(svgElement("path", { d: `M${left},${top} V${bottom} H${right}`, fill: "none" }));
  axes.append(svgElement("text", { class: "a-label", x: (left + right) / 2, y: height - 6, "text-anchor": "middle" }, xLabel));
  axes.append(svgElement("text", {
    class: "a-label", x: -(top + bottom) / 2, y: 14, transform: "rotate(-90)", "text-anchor": "middle",
  }, yLabel));
  svg.append(axes);
  const data = svgElement("g", { "aria-hidden": "true" });
  svg.append(data);
  return { x, y, data, left, right, top, bottom };
}

function empty(svg, message) {
  const { width, height } = svgSize(svg);
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.append(svgElement("text", { class: "a-empty", x: width / 2, y: height / 2, "text-anchor": "middle" }, message));
  svg.dataset.points = "0";
}

function reference(plot, { x1, x2, y1, y2, label, anchor = "end" }) {
  plot.data.append(svgElement("line", { class: "a-reference", x1, x2, y1, y2 }));
  if (label) {
    const tx = anchor === "end" ? Math.max(x1, x2) - 4 : Math.min(x1, x2) + 4;
    plot.data.append(svgElement("text", { class: "a-reference-text", x: tx, y: Math.min(y1, y2) - 5, "text-anchor": anchor }, label));
  }
}

function table(id, head, rows) {
  const element = document.getElementById(id);
  const header = `<thead><tr>${head.map((h) => `<th scope="col">${escapeHtml(h)}</th>`).join("")}</tr></thead>`;
  const body = rows.map((row) => `<tr>${row.map((cell, index) => (index === 0
    ? `<th scope="row">${escapeHtml(cell)}</th>` : `<td>${escapeHtml(cell)}</td>`)).join("")}</tr>`);
  element.innerHTML = `${header}<tbody>${body.join("")}</tbody>`;
}

function describe(id, text) {
  const element = document.getElementById(id);
  if (element.textContent !== text) element.textContent = text;
}

// --- the charts ---------------------------------------------------------------------------

function readyOrders() {
  return state.estimates.filter((e) => isNumber(e.wait_seconds));
}

function drawWaits() {
  const svg = document.getElementById("wait-chart");
  const waits = readyOrders().map((e) => e.wait_seconds).sort((a, b) => a - b);
  if (!waits.length) {
    empty(svg, "No orders ready yet");
    describe("wait-desc", "No orders ready yet.");
    table("wait-table", ["Wait", "Orders"], []);
    return;
  }
  const longest = waits[waits.length - 1];
  const unit = unitFor(longest);
  // bins of a round number of the axis' unit, so bar edges meet the ticks
  const width = Math.max(1, niceStep(longest / unit.divide / 12)) * unit.divide;
  const bins = Array.from({ length: Math.floor(longest / width) + 1 }, () => 0);
  for (const wait of waits) bins[Math.min(bins.length - 1, Math.floor(Math.max(0, wait) / width))] += 1;
  const most = Math.max(...bins);
  const xMax = bins.length * width;
  const plot = frame(svg, {
    xDomain: [0, xMax], yDomain: [0, most],
    // ticks on bin edges, every few bins
    xTicks: ticks(0, bins.length, 6, Math.ceil(bins.length / 6)).map((edge) => edge * width),
    yTicks: ticks(0, most, Math.min(most, 5), Math.max(1, niceStep(most / 5))),
    xFormat: (v) => `${Number((v / unit.divide).toFixed(2))}`, yFormat: (v) => `${v}`,
    xLabel: `wait, placed → ready (kitchen ${unit.name})`, yLabel: "orders",
  });
  bins.forEach((count, index) => {
    if (!count) return;
    const x0 = plot.x(index * width), x1 = plot.x((index + 1) * width);
    plot.data.append(svgElement("rect", {
      class: "a-bar", x: x0 + 1, width: Math.max(1, x1 - x0 - 2), y: plot.y(count), height: plot.y(0) - plot.y(count),
    }));
  });
  const p50 = percentile(waits, 0.5), p90 = percentile(waits, 0.9);
  reference(plot, { x1: plot.x(p90), x2: plot.x(p90), y1: plot.top, y2: plot.bottom, label: `90 % within ${duration(p90)}`, anchor: "end" });
  svg.dataset.points = String(waits.length);
  describe("wait-desc", `${waits.length} most recent orders ready: median ${duration(p50)}, `
    + `90 % within ${duration(p90)}, longest ${duration(longest)}.`);
  table("wait-table", ["Wait (kitchen time)", "Orders"], bins.map((count, index) => [
    `${duration(index * width)} – ${duration((index + 1) * width)}`, String(count)]));
}

/** The range a READY order was given at placement, as kitchen waits after placement, and
 * whether it held (as the API counts it: ends included; a point range promises nothing);
 * null for documents written before the ranges. */
function promisedRange(e) {
  if (!e.promised_ready_from || !e.promised_ready_by || !e.ready_at) return null;
  const placed = wallSeconds(e.placed_at), ready = wallSeconds(e.ready_at);
  const from = wallSeconds(e.promised_ready_from), by = wallSeconds(e.promised_ready_by);
  // kitchen seconds per wall second while this order waited (the speed then, not now)
  const speed = ready > placed ? e.wait_seconds / (ready - placed) : state.summary?.speed ?? 1;
  const held = by <= from ? "no range" : ready < from ? "no, early" : ready > by ? "no, late" : "yes";
  return { low: (from - placed) * speed, high: (by - placed) * speed, held };
}

function rangeText(range) {
  if (!range) return "–";
  return range.held === "no range" ? duration(range.low) : `${duration(range.low)} – ${duration(range.high)}`;
}

const ESTIMATE_HEAD = ["Order", "Estimated wait", "Promised range", "Actual wait",
  "Ready within range", "Error (+ late)"];

function drawEstimates() {
  const svg = document.getElementById("estimate-chart");
  const points = readyOrders().filter((e) => isNumber(e.error_seconds))
    .map((e) => ({ number: e.number, actual: e.wait_seconds, promised: e.wait_seconds - e.error_seconds,
      error: e.error_seconds, range: promisedRange(e) }));
  if (!points.length) {
    empty(svg, "No orders ready yet");
    describe("estimate-desc", "No orders ready yet.");
    table("estimate-table", ESTIMATE_HEAD, []);
    return;
  }
  const top = Math.max(1, ...points.map((p) => Math.max(p.actual, p.promised))) * 1.05;
  const unit = unitFor(top);
  const axisTicks = ticks(0, top / unit.divide, 5).map((t) => t * unit.divide);
  const plot = frame(svg, {
    xDomain: [0, top], yDomain: [0, top], xTicks: axisTicks, yTicks: axisTicks,
    xFormat: (v) => `${Number((v / unit.divide).toFixed(2))}`, yFormat: (v) => `${Number((v / unit.divide).toFixed(2))}`,
    xLabel: `estimated wait at placement (kitchen ${unit.name})`, yLabel: `actual wait (${unit.name})`,
  });
  reference(plot, { x1: plot.x(0), y1: plot.y(0), x2: plot.x(top), y2: plot.y(top), label: "on time", anchor: "end" });
  const radius = points.length > 200 ? 3 : 5;
  for (const p of points) {
    const dot = svgElement("circle", {
      class: p.error > 0 ? "a-dot a-late" : "a-dot", cx: plot.x(p.promised), cy: plot.y(p.actual), r: radius,
    });
    dot.append(svgElement("title", {}, `Order ${p.number}: estimated ${duration(p.promised)}, ready after ${duration(p.actual)}`));
    plot.data.append(dot);
  }
  svg.dataset.points = String(points.length);
  const late = points.filter((p) => p.error > 0).length;
  describe("estimate-desc", `${points.length} orders: ${late} ready later than estimated (above the `
    + `line, red), ${points.length - late} on time or early.`);
  table("estimate-table", ESTIMATE_HEAD, points.map((p) => [String(p.number), duration(p.promised),
    rangeText(p.range), duration(p.actual), p.range?.held ?? "–", duration(p.error)]));
}

// --- estimate ranges, and accuracy as orders wait -------------------------------------------

function renderCoverage() {
  const range = state.summary?.estimate_range;
  describe("range-coverage", range?.orders && isNumber(range.coverage)
    ? `Ranges held for ${percent(range.coverage)} of ${range.orders} `
      + `order${range.orders === 1 ? "" : "s"} (aim: ${percent(RANGE_AIM)})`
    : "No order given a range at placement is ready yet.");
}

/** The estimate at placement, then the latest one 5, 2 and 1 minute before READY: orders
 * counted and mean absolute error (kitchen seconds; null while none). A summary written by
 * an earlier release has no list: its rows say 0 orders. */
function accuracyRows() {
  const errors = state.summary.estimate_error;
  const listed = state.summary.estimate_error_before_ready ?? [];
  const before = [...new Set([...BEFORE_READY, ...listed.map((e) => e.seconds_before)])]
    .sort((a, b) => b - a);
  return [{ label: "At placement", short: "placement", orders: errors.count, mae: errors.mean_abs_seconds },
    ...before.map((seconds) => {
      const found = listed.find((e) => e.seconds_before === seconds);
      return { label: `${interval(seconds)} before ready`, short: interval(seconds),
        orders: found?.orders ?? 0, mae: found?.mae_seconds ?? null };
    })];
}

function drawAccuracy() {
  const rows = accuracyRows();
  table("before-ready-table", ["Estimate", "Orders", "Mean error (absolute)"],
    rows.map((r) => [r.label, String(r.orders), duration(r.mae)]));
  const caption = document.createElement("caption");
  caption.className = "visually-hidden";
  caption.textContent = "Mean absolute error of the estimate at placement and of the latest one "
    + "before ready, kitchen time.";
  document.getElementById("before-ready-table").prepend(caption);
  const svg = document.getElementById("before-ready-chart");
  const measured = rows.filter((r) => isNumber(r.mae));
  if (!measured.length) {
    empty(svg, "No orders ready yet");
    describe("before-ready-desc", "No orders ready yet.");
    return;
  }
  const top = Math.max(1, ...measured.map((r) => r.mae)) * 1.15; // room for the value labels
  const unit = unitFor(top);
  const plot = frame(svg, {
    xDomain: [0, rows.length], yDomain: [0, top],
    xTicks: rows.map((_, index) => index + 0.5), yTicks: ticks(0, top / unit.divide, 5).map((t) => t * unit.divide),
    xFormat: (v) => rows[Math.floor(v)].short, yFormat: (v) => `${Number((v / unit.divide).toFixed(2))}`,
    xLabel: "when the estimate was made",
    yLabel: `mean error (${unit.name})`,
  });
  rows.forEach((r, index) => {
    if (!isNumber(r.mae)) return;
    const x0 = plot.x(index + 0.2), x1 = plot.x(index + 0.8);
    plot.data.append(svgElement("rect", {
      class: "a-bar", x: x0, width: Math.max(1, x1 - x0), y: plot.y(r.mae), height: plot.y(0) - plot.y(r.mae),
    }));
    plot.data.append(svgElement("text", { class: "a-value", x: (x0 + x1) / 2, y: plot.y(r.mae) - 5, "text-anchor": "middle" },
      duration(r.mae)));
  });
  svg.dataset.points = String(measured.length);
  describe("before-ready-desc", `Mean absolute error of the estimate: ${rows.map((r) => `${r.label.toLowerCase()} `
    + `${duration(r.mae)} (${r.orders} order${r.orders === 1 ? "" : "s"})`).join("; ")}.`);
}

function timelineFrame(svg, buckets, yMax, yTicksCount, yFormat, yLabel) {
  const size = state.timeline.bucket_seconds;
  const start = buckets[0].start_kitchen_seconds;
  const end = buckets[buckets.length - 1].start_kitchen_seconds + size;
  return frame(svg, {
    xDomain: [start, end], yDomain: [0, yMax],
    xTicks: ticks(start, end, 6, timeStep(end - start)),
    yTicks: ticks(0, yMax, yTicksCount, Math.max(yMax <= 5 ? 1 : 0, niceStep(yMax / yTicksCount))),
    xFormat: clock, yFormat,
    xLabel: "kitchen time since opening (h:mm)", yLabel,
  });
}

function timelineBuckets(svgId, descId, tableId) {
  const buckets = state.timeline?.buckets ?? [];
  if (!buckets.length) {
    empty(document.getElementById(svgId), "No data yet");
    describe(descId, "No data yet.");
    table(tableId, ["Kitchen time"], []);
  }
  return buckets;
}

function drawThroughput() {
  const buckets = timelineBuckets("throughput-chart", "throughput-desc", "throughput-table");
  if (!buckets.length) return;
  const svg = document.getElementById("throughput-chart");
  const size = state.timeline.bucket_seconds;
  const most = Math.max(1, ...buckets.map((b) => b.orders_ready));
  const plot = timelineFrame(svg, buckets, most, Math.min(most, 5), (v) => `${v}`, `orders ready per ${interval(size)}`);
  for (const b of buckets) {
    if (!b.orders_ready) continue;
    const x0 = plot.x(b.start_kitchen_seconds), x1 = plot.x(b.start_kitchen_seconds + size);
    plot.data.append(svgElement("rect", {
      class: "a-bar", x: x0 + 1, width: Math.max(1, x1 - x0 - 2), y: plot.y(b.orders_ready), height: plot.y(0) - plot.y(b.orders_ready),
    }));
  }
  svg.dataset.points = String(buckets.length);
  const total = buckets.reduce((sum, b) => sum + b.orders_ready, 0);
  describe("throughput-desc", `${total} orders ready in the last ${buckets.length} intervals of `
    + `${interval(size)}; at most ${most} in one.`);
  table("throughput-table", ["Kitchen time", "Orders ready", "Mean wait"], buckets.map((b) => [
    clock(b.start_kitchen_seconds), String(b.orders_ready), duration(b.mean_wait_seconds)]));
}

function drawQueue() {
  const buckets = timelineBuckets("queue-chart", "queue-desc", "queue-table");
  if (!buckets.length) return;
  const svg = document.getElementById("queue-chart");
  const size = state.timeline.bucket_seconds;
  const most = Math.max(1, ...buckets.map((b) => b.queue_length));
  const plot = timelineFrame(svg, buckets, most, Math.min(most, 5), (v) => `${v}`, "units queued");
  // the queue at each bucket's end, held until the next bucket's end
  const points = buckets.map((b) => [plot.x(b.start_kitchen_seconds + size), plot.y(b.queue_length)]);
  let line = `M${plot.x(buckets[0].start_kitchen_seconds)},${points[0][1]}`;
  points.forEach(([px, py], index) => {
    line += ` H${px}`;
    if (index + 1 < points.length) line += ` V${points[index + 1][1]}`;
  });
  plot.data.append(svgElement("path", { class: "a-area", d: `${line} V${plot.y(0)} H${plot.x(buckets[0].start_kitchen_seconds)} Z` }));
  plot.data.append(svgElement("path", { class: "a-line", d: line }));
  svg.dataset.points = String(buckets.length);
  const now = state.summary?.queue_length ?? buckets[buckets.length - 1].queue_length;
  describe("queue-desc", `Units waiting in the kitchen's queue at the end of each ${interval(size)}: `
    + `at most ${Math.max(...buckets.map((b) => b.queue_length))}, now ${now}.`);
  table("queue-table", ["Kitchen time", "Units queued (at end)"], buckets.map((b) => [
    clock(b.start_kitchen_seconds), String(b.queue_length)]));
}

function drawUtilisation() {
  const buckets = timelineBuckets("utilisation-chart", "utilisation-desc", "utilisation-table");
  if (!buckets.length) return;
  const svg = document.getElementById("utilisation-chart");
  const size = state.timeline.bucket_seconds;
  const plot = timelineFrame(svg, buckets, 100, 5, (v) => `${v} %`, "utilisation (%)");
  const measured = buckets.filter((b) => isNumber(b.utilisation));
  let d = "";
  measured.forEach((b, index) => {
    const px = plot.x(b.start_kitchen_seconds + size / 2), py = plot.y(b.utilisation * 100);
    const previous = measured[index - 1];
    d += previous && previous.start_kitchen_seconds + size === b.start_kitchen_seconds ? ` L${px},${py}` : ` M${px},${py}`;
    plot.data.append(svgElement("circle", { class: "a-dot", cx: px, cy: py, r: 3 }));
  });
  if (d) plot.data.append(svgElement("path", { class: "a-line", d: d.trim() }));
  const overall = state.summary?.utilisation;
  if (isNumber(overall)) {
    reference(plot, { x1: plot.left, x2: plot.right, y1: plot.y(overall * 100), y2: plot.y(overall * 100), label: `overall ${percent(overall)}` });
  }
  svg.dataset.points = String(measured.length);
  describe("utilisation-desc", `Share of worker time spent preparing, per ${interval(size)}; overall `
    + `since the kitchen was configured: ${percent(overall)}.`);
  table("utilisation-table", ["Kitchen time", "Busy workers (mean)", "Utilisation"], buckets.map((b) => [
    clock(b.start_kitchen_seconds), number(b.busy_workers, 2), percent(b.utilisation)]));
}

// --- the summary and the items --------------------------------------------------------------

function renderSummary() {
  const s = state.summary;
  if (!s) return;
  const waits = s.wait_placed_to_ready, pickups = s.wait_ready_to_collected, errors = s.estimate_error;
  const figures = {
    orders_placed: `${s.orders_placed}`,
    orders_ready: `${s.orders_ready}`,
    orders_collected: `${s.orders_collected}`,
    orders_waiting: `${s.orders_waiting}`,
    wait_mean: withWall(waits.mean_seconds, waits.mean_wall_seconds),
    wait_p50: withWall(waits.p50_seconds, waits.p50_wall_seconds),
    wait_p90: withWall(waits.p90_seconds, waits.p90_wall_seconds),
    wait_max: withWall(waits.max_seconds, waits.max_wall_seconds),
    pickup_mean: withWall(pickups.mean_seconds, pickups.mean_wall_seconds),
    pickup_p90: withWall(pickups.p90_seconds, pickups.p90_wall_seconds),
    throughput: isNumber(s.throughput_per_kitchen_hour)
      ? `${number(s.throughput_per_kitchen_hour, 1)} <small>orders per kitchen hour</small>` : "–",
    queue_length: `${s.queue_length} <small>units</small>`,
    busy_workers: `${s.busy_workers} <small>of ${s.workers}</small>`,
    utilisation: percent(s.utilisation),
    per_worker: s.per_worker.length
      ? s.per_worker.map((w) => `#${w.worker} ${percent(w.utilisation)}`).join(" · ") : "–",
    stock_share: `${percent(s.stock_share)} <small>(${s.units_from_stock} of ${s.units_from_stock + s.units_from_kitchen})</small>`,
    refill_units: `${s.refill_units} <small>units</small>`,
    error_mean: withWall(errors.mean_abs_seconds, errors.mean_abs_wall_seconds),
    error_p90: withWall(errors.p90_abs_seconds, errors.p90_abs_wall_seconds),
    error_bias: isNumber(errors.bias_seconds) ? `${errors.bias_seconds > 0 ? "+" : ""}${duration(errors.bias_seconds)}` : "–",
  };
  for (const [name, html] of Object.entries(figures)) {
    const element = document.querySelector(`#summary [data-figure="${name}"]`);
    if (element && element.innerHTML !== html) element.innerHTML = html;
  }
  const asOf = s.as_of ? new Date(s.as_of).toLocaleTimeString() : "no events yet";
  describe("as-of", `As of ${asOf} · kitchen time since opening ${duration(s.kitchen_seconds)} · `
    + `speed ×${number(s.speed, s.speed % 1 ? 1 : 0)} · ${s.workers} workers`);
}

function renderItems() {
  table("items-table", ["Item", "Menu time", "Units made", "Mean", "Median", "90th pct.",
    `Recent mean`, `Recent 90th pct.`], state.items.map((i) => [
    i.name, duration(i.menu_seconds), String(i.count), duration(i.mean_seconds), duration(i.p50_seconds),
    duration(i.p90_seconds), duration(i.recent_mean_seconds), duration(i.recent_p90_seconds)]));
  const caption = document.createElement("caption");
  caption.className = "visually-hidden";
  caption.textContent = `Kitchen time per unit; recent = the last ${state.items[0]?.window ?? 20} units of the item.`;
  document.getElementById("items-table").prepend(caption);
}

function render() {
  renderSummary();
  drawWaits();
  drawEstimates();
  renderCoverage();
  drawAccuracy();
  drawThroughput();
  drawQueue();
  drawUtilisation();
  renderItems();
}

// --- refreshing -----------------------------------------------------------------------------

function showError(message) {
  const element = document.getElementById("errors");
  if (element.textContent !== message) element.textContent = message;
}

async function getJson(path) {
  const response = await staffFetch(path,
    { headers: { Accept: "application/json" }, cache: "no-store" });
  if (!response.ok) throw new Error(`${path} answered ${response.status}`);
  return response.json();
}

async function refresh() {
  try {
    const summary = await getJson("/analytics/summary");
    const bucket = chooseBucket(summary.kitchen_seconds);
    const [items, estimates, timeline] = await Promise.all([
      getJson("/analytics/items"),
      getJson(`/analytics/estimates?limit=${ESTIMATES_LIMIT}`),
      getJson(`/analytics/timeline?bucket=${bucket}&limit=${MAX_BUCKETS}`),
    ]);
    Object.assign(state, { summary, items: items.items, estimates: estimates.estimates, timeline });
    showError("");
    render();
  } catch (error) {
    showError(`Could not refresh the figures (${error.message}); showing the last ones, `
      + "trying again in 5 seconds.");
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

// Charts are drawn in pixels (so text keeps its size on a phone): redraw when the width changes.
let redraw = 0;
let drawnWidth = 0;
new ResizeObserver(([entry]) => {
  const width = Math.round(entry.contentRect.width);
  if (width === drawnWidth) return;
  drawnWidth = width;
  cancelAnimationFrame(redraw);
  redraw = requestAnimationFrame(() => { if (state.summary) render(); });
}).observe(document.getElementById("main"));

refresh();
