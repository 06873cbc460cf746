// chime.js: a short two-note chime with Web Audio, and nothing else (no audio files).
//
// Browsers let an AudioContext make sound only after a user gesture, so the context is created
// (or resumed) from a click or key press. Nothing here ever throws: where Web Audio is missing
// or refused the chime is simply silent and `state` says "unavailable".

const STORAGE_KEY = "mcburger.sound";

export class Chime {
  constructor({ onState } = {}) {
    this._Context = globalThis.AudioContext ?? globalThis.webkitAudioContext ?? null;
    this._context = null;
    this._onState = onState ?? (() => {});
    this._lastPlayed = 0;
    let stored = null;
    try {
      stored = globalThis.localStorage?.getItem(STORAGE_KEY);
    } catch {
      // storage refused (private mode): remember nothing
    }
    this.muted = stored === "off";
  }

  /** "unavailable" | "muted" | "suspended" (needs a gesture) | "on" */
  get state() {
    if (!this._Context) return "unavailable";
    if (this.muted) return "muted";
    return this._context?.state === "running" ? "on" : "suspended";
  }

  _report() {
    try {
      this._onState(this.state);
    } catch {
      // the page's problem, not the chime's
    }
  }

  _remember() {
    try {
      globalThis.localStorage?.setItem(STORAGE_KEY, this.muted ? "off" : "on");
    } catch {
      // nothing to do
    }
  }

  /** Create/resume the context; call it from a user gesture. Resolves to the new state. */
  async unlock() {
    if (!this._Context || this.muted) {
      this._report();
      return this.state;
    }
    try {
      if (!this._context || this._context.state === "closed") {
        this._context = new this._Context();
        this._context.onstatechange = () => this._report();
      }
      if (this._context.state !== "running") await this._context.resume();
    } catch {
      // refused: stay silent
    }
    this._report();
    return this.state;
  }

  /** Turn sound on (from a gesture) and play a short confirmation. */
  async enable() {
    this.muted = false;
    this._remember();
    const state = await this.unlock();
    if (state === "on") this.play({ force: true });
    return state;
  }

  mute() {
    this.muted = true;
    this._remember();
    try {
      this._context?.suspend();
    } catch {
      // nothing to do
    }
    this._report();
  }

  /** Play the chime; returns whether a sound was started. At most one every 700 ms. */
  play({ force = false } = {}) {
    if (this.state !== "on") return false;
    const now = Date.now();
    if (!force && now - this._lastPlayed < 700) return false;
    this._lastPlayed = now;
    try {
      const ctx = this._context;
      const start = ctx.currentTime + 0.02;
      const master = ctx.createGain();
      master.gain.value = 0.25;
      master.connect(ctx.destination);
      // "ding-dong": E6 then C6, each a sine with a soft attack and an exponential decay
      [[1318.5, 0], [1046.5, 0.28]].forEach(([frequency, offset]) => {
        const oscillator = ctx.createOscillator();
        const gain = ctx.createGain();
        oscillator.type = "sine";
        oscillator.frequency.value = frequency;
        const t = start + offset;
        gain.gain.setValueAtTime(0.0001, t);
        gain.gain.exponentialRampToValueAtTime(1, t + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.9);
        oscillator.connect(gain).connect(master);
        oscillator.start(t);
        oscillator.stop(t + 0.95);
      });
      return true;
    } catch {
      return false;
    }
  }
}
