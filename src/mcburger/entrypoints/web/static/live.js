// live.js: the board feed used by the status board and the kiosk.
//
//   import { connectBoardFeed } from "./live.js";
//   const feed = connectBoardFeed({
//     onSnapshot(snapshot, info) {},  // {version, requested, in_progress, ready}; info: {transport, first}
//     onChange(change) {},            // {version, number, status}, versions strictly increasing
//     onState(state, info) {},        // "connecting" | "websocket" | "sse" | "poll" | "offline"
//   });
//   feed.close();
//
// Transports are tried in order: WebSocket (/board/ws), Server-Sent Events (/board/events), then
// long-poll (GET /board + /board/poll). A transport that never delivers its snapshot (refused,
// blocked by a proxy, timed out) is skipped for the next one; one that worked and then dropped is
// tried again first. When every transport failed the feed reports "offline" and retries with
// exponential backoff (jittered, capped). Every (re)connection starts from a fresh snapshot, which
// is the server's truth; after it only changes with a version above the last one seen are passed
// on, so a change is never delivered twice or out of order.
//
// A stream can die silently (Wi-Fi drop, a proxy that keeps the socket open): when a live
// WebSocket or SSE stream has been quiet for a while the feed asks /board/poll whether anything
// newer exists; if it does and the stream still has not delivered it, the feed reconnects.

export const TRANSPORTS = Object.freeze(["websocket", "sse", "poll"]);
export const STATES = Object.freeze(["connecting", "websocket", "sse", "poll", "offline"]);

const DEFAULTS = {
  base: "",                 // origin of the API; "" = this page's origin
  transports: TRANSPORTS,   // which to try, in order
  connectTimeoutMs: 5000,   // a transport that gives no snapshot within this has failed
  pollTimeoutSeconds: 25,   // server-side wait of one long-poll request
  minBackoffMs: 500,
  maxBackoffMs: 30000,
  stableAfterMs: 10000,     // a connection that lived this long resets the backoff
  quietProbeMs: 45000,      // probe a quiet WebSocket/SSE stream after this long
};

function isSnapshot(message) {
  return message !== null && typeof message === "object" && Number.isFinite(message.version) &&
    Array.isArray(message.requested) && Array.isArray(message.in_progress) &&
    Array.isArray(message.ready);
}

function isChange(message) {
  return message !== null && typeof message === "object" && Number.isFinite(message.version) &&
    Number.isFinite(message.number) && typeof message.status === "string";
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Which transports a page asked for with ?transport=sse or ?transport=sse,poll (else null). */
export function transportsFromQuery(search = globalThis.location?.search ?? "") {
  const wanted = new URLSearchParams(search).get("transport");
  if (!wanted) return null;
  const list = wanted.split(",").map((t) => t.trim().toLowerCase())
    .filter((t) => TRANSPORTS.includes(t));
  return list.length ? list : null;
}

/** Human words for a feed state, for the connection indicators. */
export function describeState(state) {
  switch (state) {
    case "websocket": return "Live (WebSocket)";
    case "sse": return "Live (Server-Sent Events)";
    case "poll": return "Live (polling)";
    case "offline": return "Offline – reconnecting…";
    default: return "Connecting…";
  }
}

export function connectBoardFeed(options = {}) {
  const opts = { ...DEFAULTS, ...options };
  const noop = () => {};
  const onSnapshot = opts.onSnapshot ?? noop;
  const onChange = opts.onChange ?? noop;
  const onState = opts.onState ?? noop;

  const available = {
    websocket: typeof WebSocket === "function",
    sse: typeof EventSource === "function",
    poll: typeof fetch === "function",
  };
  const order = (opts.transports ?? TRANSPORTS).filter((t) => TRANSPORTS.includes(t) && available[t]);
  const origin = opts.base || globalThis.location.origin;
  const httpUrl = (path) => new URL(path, origin).href;
  const wsUrl = (path) => {
    const url = new URL(path, origin);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url.href;
  };

  let state = null;
  let version = null;      // last version seen (snapshot or change)
  let snapshots = 0;       // snapshots delivered, to tell the first one apart
  let generation = 0;      // bumps on every (re)connect: stale callbacks check it and stop
  let closed = false;
  let preferred = 0;       // index in `order` of the transport to try first
  let backoff = opts.minBackoffMs;
  let current = null;      // {stop()} of the running attempt
  let retryTimer = null;
  let lastMessageAt = 0;
  let watchdog = null;
  let stableTimer = null;

  function safely(fn, ...args) {
    try {
      fn(...args);
    } catch (error) {
      // a page's callback must not break the feed
      console.error("board feed callback failed", error);
    }
  }

  function setState(next, info = {}) {
    if (next === state && !info.force) return;
    state = next;
    safely(onState, next, info);
  }

  function deliverSnapshot(snapshot, transport) {
    version = snapshot.version;
    const first = snapshots === 0;
    snapshots += 1;
    safely(onSnapshot, snapshot, { transport, first });
  }

  function deliverChange(change) {
    if (version !== null && change.version <= version) return; // seen already (or older)
    version = change.version;
    safely(onChange, change);
  }

  function clearTimers() {
    clearTimeout(retryTimer);
    clearTimeout(stableTimer);
    clearInterval(watchdog);
    retryTimer = stableTimer = watchdog = null;
  }

  function stopCurrent() {
    generation += 1;
    clearTimers();
    if (current) {
      const stopping = current;
      current = null;
      try {
        stopping.stop();
      } catch {
        // already closed
      }
    }
  }

  /** Try order[index]; on failure before a snapshot go on with the next. */
  function attempt(index) {
    if (closed) return;
    stopCurrent();
    // (navigator.onLine is not consulted: a machine with only a local network, or none but
    // loopback, may report "offline" and still reach its server)
    if (index >= order.length) {
      scheduleRetry(0, "every transport failed"); // next round: the best transport again
      return;
    }
    const transport = order[index];
    const gen = generation;
    let live = false;
    setState("connecting", { transport });

    const alive = () => gen === generation && !closed;
    const connected = () => {
      if (!alive() || live) return;
      live = true;
      clearTimeout(connectTimer);
      preferred = index;
      lastMessageAt = Date.now();
      setState(transport, { transport });
      stableTimer = setTimeout(() => { backoff = opts.minBackoffMs; }, opts.stableAfterMs);
      if (transport !== "poll") startWatchdog(gen);
    };
    const failed = (why) => {
      if (!alive()) return;
      if (live) {
        // it worked, then dropped: reconnect (the same transport first) after the backoff
        stopCurrent();
        scheduleRetry(index, why);
      } else {
        attempt(index + 1);
      }
    };
    const handlers = {
      snapshot(message) {
        if (!alive()) return;
        lastMessageAt = Date.now();
        deliverSnapshot(message, transport);
        connected();
      },
      change(message) {
        if (!alive()) return;
        lastMessageAt = Date.now();
        if (live) deliverChange(message);
      },
      failed,
      alive,
    };
    const connectTimer = setTimeout(() => failed(`${transport}: no snapshot in time`),
      opts.connectTimeoutMs);
    try {
      const stop = TRANSPORT_IMPL[transport](handlers);
      current = { stop() { clearTimeout(connectTimer); stop(); } };
    } catch (error) {
      clearTimeout(connectTimer);
      attempt(index + 1);
    }
  }

  /** Report "offline", then try again from order[from] after the (growing) backoff. */
  function scheduleRetry(from, why) {
    if (closed) return;
    clearTimers();
    const delay = Math.round(backoff * (0.75 + Math.random() * 0.5));
    backoff = Math.min(backoff * 2, opts.maxBackoffMs);
    setState("offline", { retryInMs: delay, reason: why });
    retryTimer = setTimeout(() => attempt(from), delay);
  }

  // ---- silent-death watchdog for WebSocket / SSE -------------------------------------------
  function startWatchdog(gen) {
    clearInterval(watchdog);
    let probing = false;
    watchdog = setInterval(async () => {
      if (gen !== generation || closed || probing) return;
      if (Date.now() - lastMessageAt < opts.quietProbeMs) return;
      probing = true;
      try {
        const since = version ?? 0;
        const response = await fetch(httpUrl(`/board/poll?since=${since}&timeout=0`),
          { cache: "no-store", signal: timeoutSignal(10000) });
        if (response.status === 409 && gen === generation && !closed) {
          // our version is ahead of the board: its data was replaced; start again from a snapshot
          stopCurrent();
          scheduleRetry(preferred, "the board started again");
          return;
        }
        if (!response.ok) return;
        const changes = await response.json();
        lastMessageAt = Date.now();
        if (!Array.isArray(changes) || changes.length === 0) return;
        const newest = Math.max(...changes.map((c) => c.version));
        await new Promise((resolve) => setTimeout(resolve, 3000));
        if (gen === generation && !closed && (version ?? 0) < newest) {
          stopCurrent();
          scheduleRetry(preferred, "stream missed changes");
        }
      } catch {
        if (gen === generation && !closed) {
          stopCurrent();
          scheduleRetry(preferred, "server unreachable");
        }
      } finally {
        probing = false;
      }
    }, Math.max(1000, Math.min(opts.quietProbeMs / 3, 15000)));
  }

  // ---- the transports: each starts, reports through handlers, returns a stop function ------
  const TRANSPORT_IMPL = {
    websocket(h) {
      const socket = new WebSocket(wsUrl("/board/ws"));
      socket.onmessage = (event) => {
        const message = parse(event.data);
        if (isSnapshot(message)) h.snapshot(message);
        else if (isChange(message)) h.change(message);
      };
      socket.onerror = () => h.failed("websocket error");
      socket.onclose = () => h.failed("websocket closed");
      return () => {
        socket.onmessage = socket.onerror = socket.onclose = null;
        try {
          socket.close();
        } catch {
          // not open yet
        }
      };
    },

    sse(h) {
      const source = new EventSource(httpUrl("/board/events"));
      source.addEventListener("snapshot", (event) => {
        const message = parse(event.data);
        if (isSnapshot(message)) h.snapshot(message);
      });
      source.addEventListener("change", (event) => {
        const message = parse(event.data);
        if (isChange(message)) h.change(message);
      });
      // EventSource would reconnect by itself with Last-Event-ID (no snapshot); we close it and
      // reconnect our way so every connection starts from a fresh snapshot.
      source.onerror = () => h.failed("event stream error");
      return () => {
        source.onerror = null;
        source.close();
      };
    },

    poll(h) {
      const controller = new AbortController();
      (async () => {
        try {
          const response = await fetch(httpUrl("/board"),
            { cache: "no-store", signal: anySignal(controller.signal, timeoutSignal(10000)) });
          if (!response.ok) throw new Error(`GET /board: HTTP ${response.status}`);
          const snapshot = await response.json();
          if (!isSnapshot(snapshot)) throw new Error("GET /board: not a snapshot");
          h.snapshot(snapshot);
          while (h.alive()) {
            const since = version ?? snapshot.version;
            const wait = opts.pollTimeoutSeconds;
            const polled = await fetch(httpUrl(`/board/poll?since=${since}&timeout=${wait}`), {
              cache: "no-store",
              signal: anySignal(controller.signal, timeoutSignal((wait + 15) * 1000)),
            });
            if (!polled.ok) throw new Error(`GET /board/poll: HTTP ${polled.status}`);
            const changes = await polled.json();
            if (!Array.isArray(changes)) throw new Error("GET /board/poll: not a list");
            for (const change of changes) if (isChange(change)) h.change(change);
          }
        } catch (error) {
          if (!controller.signal.aborted) h.failed(String(error?.message ?? error));
        }
      })();
      return () => controller.abort();
    },
  };

  function timeoutSignal(ms) {
    if (typeof AbortSignal.timeout === "function") return AbortSignal.timeout(ms);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), ms);
    return controller.signal;
  }

  function anySignal(...signals) {
    if (typeof AbortSignal.any === "function") return AbortSignal.any(signals);
    const controller = new AbortController();
    for (const signal of signals) {
      if (signal.aborted) {
        controller.abort();
        break;
      }
      signal.addEventListener("abort", () => controller.abort(), { once: true });
    }
    return controller.signal;
  }

  // ---- the browser's own view of the network: a hint, never trusted to stop retrying -------
  const wentOffline = () => {
    if (closed) return;
    stopCurrent();
    backoff = opts.minBackoffMs;
    scheduleRetry(preferred, "browser offline");
  };
  const cameOnline = () => {
    if (closed || state !== "offline") return;
    backoff = opts.minBackoffMs;
    attempt(preferred);
  };
  globalThis.addEventListener?.("offline", wentOffline);
  globalThis.addEventListener?.("online", cameOnline);

  if (order.length === 0) {
    setState("offline", { reason: "no transport available" });
  } else {
    attempt(0);
  }

  return {
    get state() { return state; },
    get version() { return version; },
    get transports() { return [...order]; },
    /** Drop the connection and start again from a fresh snapshot (best transport first). */
    reconnect() {
      if (closed) return;
      backoff = opts.minBackoffMs;
      attempt(0);
    },
    close() {
      closed = true;
      stopCurrent();
      globalThis.removeEventListener?.("offline", wentOffline);
      globalThis.removeEventListener?.("online", cameOnline);
      setState("offline", { reason: "closed" });
    },
  };
}
