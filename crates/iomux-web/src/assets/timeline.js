// iomux web: the traces pages. A trace written by `iomux serve --trace FILE` drawn as a
// timeline: one lane per loop thread, its waits above (coloured by why they woke) and the
// syscalls of each turn below (coloured by name, errors in red). Wheel zooms around the
// pointer, dragging pans, a click picks the turn under the pointer and lists its syscalls.
// Uses el, api, show, table, link, query, human and utc from app.js (loaded after this file,
// run before any page).
"use strict";

const ERRNO = { 4: "EINTR", 9: "EBADF", 11: "EAGAIN", 23: "ENFILE", 24: "EMFILE", 32: "EPIPE",
  103: "ECONNABORTED", 104: "ECONNRESET", 105: "ENOBUFS", 110: "ETIMEDOUT", 111: "ECONNREFUSED",
  125: "ECANCELED" };
const WAKE_COLOURS = { fd: "#9db4d6", waker: "#b39ddb", timer: "#f0b56b", timeout: "#c9c9c9" };
const CALL_COLOURS = ["#2f7ed8", "#3aa660", "#8e5ac9", "#d98b2b", "#1aa3a3", "#b5476d", "#6b7a8f"];
const ERROR_COLOUR = "#d62728";

// Geometry of the canvas, in CSS pixels.
const AXIS = 26, LANE = 64, LABEL = 18, WAIT_H = 16, CALL_H = 16, GAP = 4, PAD = 8;

function result(value) {
  return value < 0 ? `-${ERRNO[-value] || -value}` : String(value);
}

/// Microseconds for people: 950 µs, 12.5 ms, 1.204 s.
function duration(us) {
  const a = Math.abs(us);
  if (a < 5e-4) return "0";
  if (a >= 1e6) return `${(us / 1e6).toFixed(3)} s`;
  if (a >= 1e3) return `${(us / 1e3).toFixed(a >= 1e5 ? 0 : a >= 1e4 ? 1 : 2)} ms`;
  return `${us.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : 2)} µs`;
}

/// A time on the axis: in the unit its size calls for, with as many decimals as `step` (the
/// distance between ticks) needs to tell neighbours apart.
function at(us, step) {
  if (Math.abs(us) < 5e-4) return "0";
  const [scale, unit] = Math.abs(us) >= 1e6 && step >= 1e3 ? [1e6, "s"]
    : Math.abs(us) >= 1e3 && step >= 1 ? [1e3, "ms"] : [1, "µs"];
  const decimals = Math.min(6, Math.max(0, Math.ceil(-Math.log10(step / scale) - 1e-9)));
  return `${(us / scale).toFixed(decimals)} ${unit}`;
}

/// The first index in `items` (sorted by [0]) whose start is at or after `t`.
function firstFrom(items, t) {
  let lo = 0, hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (items[mid][0] < t) lo = mid + 1; else hi = mid;
  }
  return lo;
}

async function tracesPage() {
  const data = await api("/api/traces");
  const rows = data.traces.map((t) => [link("/trace", { name: t.name }, t.name),
    el("span", { class: "mono" }, t.path), human(t.bytes), t.modified ? utc(t.modified) : "missing"]);
  show(
    el("h1", {}, "Traces"),
    rows.length
      ? table(["trace", "file", "bytes", "modified (UTC)"], rows, [false, false, true, false])
      : el("p", { class: "muted" },
        "No traces given. Record one with `iomux serve --trace FILE` (or `iomux bench echo --trace-point`), then start `iomux web --trace FILE` (a folder lists its trace*.json files)."));
}

async function tracePage() {
  const name = query("name");
  if (!name) throw new Error("which trace? /trace?name=NAME (the traces page lists them)");
  const data = await api(`/api/traces/${encodeURIComponent(name)}`);
  const timeline = new Timeline(data);
  const range = el("span", { id: "trace-range", class: "muted" });
  const button = (text, action, label) =>
    el("button", { type: "button", onclick: action, "aria-label": label || text }, text);
  const controls = el("div", { class: "trace-controls" },
    button("Whole trace", () => timeline.reset()),
    button("Zoom in", () => timeline.zoom(0.5)),
    button("Zoom out", () => timeline.zoom(2)),
    button("◀ turn", () => timeline.step(-1), "previous turn"),
    button("turn ▶", () => timeline.step(1), "next turn"),
    range);
  const swatch = (colour, text) => el("span", { class: "swatch" },
    el("i", { style: `background:${colour}` }), text);
  const legend = el("p", { class: "legend" },
    "waits that woke for: ", data.wake_names.map((w) => swatch(WAKE_COLOURS[w] || "#ddd", w)),
    " · calls (syscalls; a ring's completions): ", data.syscall_names.map((s, i) => swatch(CALL_COLOURS[i % CALL_COLOURS.length], s)),
    swatch(ERROR_COLOUR, "failed"));
  const details = el("div", { id: "turn-details" },
    el("p", { class: "muted" }, "Click a turn (or use the turn buttons, or ← → on the timeline) to list its calls."));
  show(
    el("h1", {}, `Trace ${data.name}`),
    el("p", { class: "mono" }, data.command),
    el("p", {}, el("span", { id: "trace-turns" }, String(data.turns)), " turns kept",
      data.dropped_turns ? ` (${data.dropped_turns} older ones dropped by the ring)` : "",
      `, ${data.threads.length} loop thread(s), ${duration(data.span_us[1] - data.span_us[0])}.`),
    controls, legend, timeline.canvas, details,
    el("h2", {}, "Summary"),
    el("pre", { class: "report", id: "trace-summary" }, data.summary));
  timeline.onView = (start, end) => {
    const zero = data.span_us[0], step = (end - start) / 10;
    range.textContent = `${at(start - zero, step)} to ${at(end - zero, step)} (${duration(end - start)} shown)`;
  };
  timeline.onSelect = (lane, turn) => details.replaceChildren(turnDetails(data, lane, turn));
  timeline.reset();
  window.iomuxTimeline = timeline; // for the browser test and the console
}

/// The table of one turn: its wait, then its syscalls.
function turnDetails(data, lane, turn) {
  const thread = data.threads[lane];
  const w = thread.waits[turn];
  const calls = callsOf(thread, turn);
  const wake = data.wake_names[w[3]];
  return el("div", {},
    el("h2", {}, `Turn ${turn + 1} of ${thread.waits.length} · ${thread.name}`),
    el("p", { id: "turn-wait" },
      `wait at ${at(w[0] - data.span_us[0], 1)}: blocked ${duration(w[1])}, woke for ${wake}, ${w[2]} event(s), `,
      `${w[4]} fd(s) passed, timeout ${w[5] === null ? "none" : duration(w[5])}`,
      w[6] ? `, interrupted ${w[6]} time(s)` : ""),
    calls.length
      ? table(["call", "fd", "result", "at (after the wait began)", "took"],
        calls.map((c) => [data.syscall_names[c[2]], c[3], el("span", { class: c[4] < 0 ? "failed" : null }, result(c[4])),
          duration(c[0] - w[0]), duration(c[1])]),
        [false, true, true, true, true])
      : el("p", { class: "muted" }, "No calls in this turn."));
}

/// The syscalls of a thread's turn: from its wait to the next one.
function callsOf(thread, turn) {
  const from = thread.waits[turn][0];
  const to = turn + 1 < thread.waits.length ? thread.waits[turn + 1][0] : Infinity;
  const out = [];
  for (let i = firstFrom(thread.calls, from); i < thread.calls.length && thread.calls[i][0] < to; i++) {
    out.push(thread.calls[i]);
  }
  return out;
}

class Timeline {
  constructor(data) {
    this.data = data;
    this.canvas = el("canvas", { id: "timeline", tabindex: "0", role: "img",
      "aria-label": `timeline of ${data.turns} loop turns` });
    this.canvas.style.height = `${AXIS + data.threads.length * LANE + PAD}px`;
    // The longest call of each thread: a call starting before the view may reach into it.
    this.longest = data.threads.map((t) => t.calls.reduce((m, c) => Math.max(m, c[1]), 0));
    this.longestWait = data.threads.map((t) => t.waits.reduce((m, w) => Math.max(m, w[1]), 0));
    this.selected = null;
    this.onView = () => {};
    this.onSelect = () => {};
    this.listen();
    new ResizeObserver(() => this.draw()).observe(this.canvas);
  }

  reset() {
    const [first, last] = this.data.span_us;
    this.view(first, last);
  }

  view(start, end) {
    const min = 2; // µs: closer than this is no use
    if (end - start < min) { const mid = (start + end) / 2; start = mid - min / 2; end = mid + min / 2; }
    this.start = start;
    this.end = end;
    this.draw();
    this.onView(start, end);
  }

  /// Zooms by `factor` (below 1: in) around time `around` (the middle by default).
  zoom(factor, around) {
    const t = around === undefined ? (this.start + this.end) / 2 : around;
    this.view(t - (t - this.start) * factor, t + (this.end - t) * factor);
  }

  width() { return this.canvas.clientWidth - LABEL; }

  /// The x of time `t`, in CSS pixels from the canvas's left edge.
  xOf(t) { return LABEL + (t - this.start) / (this.end - this.start) * this.width(); }

  timeAt(x) { return this.start + (x - LABEL) / this.width() * (this.end - this.start); }

  /// The y of lane `i`'s wait row (its top), in CSS pixels.
  laneY(i) { return AXIS + i * LANE + 16; }

  /// Picks turn `turn` of lane `lane`, and brings it into view if it is not.
  select(lane, turn) {
    const waits = this.data.threads[lane].waits;
    if (!waits.length) return; // iomux web sends no such lane; a guard all the same
    turn = Math.max(0, Math.min(waits.length - 1, turn));
    this.selected = { lane, turn };
    const w = waits[turn];
    const calls = callsOf(this.data.threads[lane], turn);
    const end = calls.length ? calls[calls.length - 1][0] + calls[calls.length - 1][1] : w[0] + w[1];
    if (w[0] < this.start || end > this.end) {
      const span = Math.max(this.end - this.start, (end - w[0]) * 1.2);
      this.view(w[0] - span * 0.1, w[0] + span * 0.9);
    } else {
      this.draw();
    }
    this.onSelect(lane, turn);
  }

  step(by) {
    const { lane, turn } = this.selected || { lane: 0, turn: by > 0 ? -1 : 1 };
    this.select(lane, turn + by);
  }

  /// The turn at canvas point (x, y): the lane's last wait begun at or before that time.
  turnAt(x, y) {
    const lane = Math.floor((y - AXIS) / LANE);
    if (lane < 0 || lane >= this.data.threads.length || x < LABEL) return null;
    const waits = this.data.threads[lane].waits;
    const turn = firstFrom(waits, this.timeAt(x) + 1e-9) - 1;
    return turn < 0 ? null : { lane, turn };
  }

  listen() {
    const c = this.canvas;
    const local = (e) => { const r = c.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      const [x] = local(e);
      this.zoom(e.deltaY > 0 ? 1.25 : 0.8, this.timeAt(x));
    }, { passive: false });
    let drag = null;
    c.addEventListener("pointerdown", (e) => {
      // Captured: the release reaches the canvas even off it, so a drag always ends.
      c.setPointerCapture(e.pointerId);
      drag = { x: local(e)[0], start: this.start, end: this.end, moved: false };
    });
    c.addEventListener("pointercancel", () => { drag = null; });
    c.addEventListener("pointermove", (e) => {
      if (!drag) return;
      const dx = local(e)[0] - drag.x;
      if (Math.abs(dx) > 3) drag.moved = true;
      if (!drag.moved) return;
      const shift = dx / this.width() * (drag.end - drag.start);
      this.view(drag.start - shift, drag.end - shift);
    });
    c.addEventListener("pointerup", (e) => {
      const moved = drag && drag.moved;
      drag = null;
      if (moved) return;
      const [x, y] = local(e);
      const hit = this.turnAt(x, y);
      if (hit) this.select(hit.lane, hit.turn);
    });
    c.addEventListener("keydown", (e) => {
      if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
        e.preventDefault();
        this.step(e.key === "ArrowLeft" ? -1 : 1);
      }
    });
  }

  draw() {
    const c = this.canvas, dpr = window.devicePixelRatio || 1;
    const cssW = c.clientWidth, cssH = c.clientHeight;
    if (!cssW) return;
    c.width = Math.round(cssW * dpr);
    c.height = Math.round(cssH * dpr);
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, cssW, cssH);
    g.font = "11px system-ui, sans-serif";
    this.drawAxis(g, cssW, cssH);
    let drawn = 0;
    this.data.threads.forEach((thread, lane) => {
      const y = this.laneY(lane);
      g.fillStyle = "#333";
      g.fillText(thread.name, LABEL, y - 4);
      drawn += this.drawRow(g, thread.waits, this.longestWait[lane], y, WAIT_H,
        (w) => WAKE_COLOURS[this.data.wake_names[w[3]]] || "#ddd");
      drawn += this.drawRow(g, thread.calls, this.longest[lane], y + WAIT_H + GAP, CALL_H,
        (call) => call[4] < 0 ? ERROR_COLOUR : CALL_COLOURS[call[2] % CALL_COLOURS.length]);
    });
    if (this.selected) {
      const { lane, turn } = this.selected;
      const thread = this.data.threads[lane];
      const from = thread.waits[turn][0];
      const calls = callsOf(thread, turn);
      const to = calls.length ? calls[calls.length - 1][0] + calls[calls.length - 1][1]
        : from + thread.waits[turn][1];
      const x0 = this.xOf(from), x1 = Math.max(x0 + 2, this.xOf(to));
      g.strokeStyle = "#111";
      g.lineWidth = 1.5;
      g.strokeRect(x0 - 1, this.laneY(lane) - 2, x1 - x0 + 2, WAIT_H + GAP + CALL_H + 4);
    }
    c.dataset.drawn = String(drawn);
    c.dataset.view = `${this.start},${this.end}`;
  }

  /// Draws the visible items of one row; items narrower than a pixel are drawn a pixel wide,
  /// and one pixel column is filled once per colour, so a whole trace draws quickly.
  drawRow(g, items, longest, y, h, colour) {
    const right = g.canvas.clientWidth;
    let drawn = 0, lastX = -1, lastColour = "";
    for (let i = firstFrom(items, this.start - longest); i < items.length; i++) {
      const [ts, dur] = items[i];
      if (ts > this.end) break;
      if (ts + dur < this.start) continue;
      const x0 = Math.max(LABEL, this.xOf(ts));
      const x1 = Math.min(right, Math.max(x0 + 1, this.xOf(ts + dur)));
      const fill = colour(items[i]);
      if (Math.floor(x1) <= lastX && fill === lastColour) continue;
      g.fillStyle = fill;
      g.fillRect(x0, y, x1 - x0, h);
      lastX = Math.floor(x1);
      lastColour = fill;
      drawn++;
    }
    return drawn;
  }

  drawAxis(g, w, h) {
    const span = this.end - this.start;
    const rough = span / Math.max(1, (w - LABEL) / 110);
    const power = 10 ** Math.floor(Math.log10(rough));
    const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough);
    const zero = this.data.span_us[0];
    g.strokeStyle = "#e3e3e3";
    g.fillStyle = "#666";
    g.lineWidth = 1;
    // Ticks counted, not summed: a step below the float spacing of huge times cannot stall.
    const first = Math.ceil((this.start - zero) / step);
    for (let k = 0; k < 1000; k++) {
      const t = (first + k) * step + zero;
      if (t > this.end) break;
      const x = Math.round(this.xOf(t)) + 0.5;
      g.beginPath();
      g.moveTo(x, AXIS - 6);
      g.lineTo(x, h);
      g.stroke();
      g.fillText(at(t - zero, step), x + 3, 12);
    }
  }
}
