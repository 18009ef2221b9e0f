// iomux web: each page is drawn from the JSON API under /api/. No framework, no build step.
"use strict";

const app = () => document.getElementById("app");

// ---- helpers ---------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  let body;
  try {
    body = await response.json();
  } catch (e) {
    throw new Error(`${path} answered ${response.status} without JSON`);
  }
  if (!response.ok) throw new Error(body.error || `${path} answered ${response.status}`);
  return body;
}

/// Replaces the page's content (absent parts, null or undefined, are left out).
function show(...children) {
  app().replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}

function showError(error) {
  show(el("p", { class: "error", role: "alert" }, String(error.message || error)));
}

function utc(secs) {
  if (secs === null || secs === undefined) return "";
  return new Date(secs * 1000).toISOString().slice(0, 16).replace("T", " ");
}

function short(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "";
  if (!Number.isFinite(value)) return value > 0 ? "∞" : "-∞";
  const a = Math.abs(value);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return value.toExponential(2);
  if (a >= 100) return value.toFixed(0);
  if (a >= 10) return value.toFixed(1);
  return value.toFixed(3).replace(/\.?0+$/, "") || "0";
}

/// A rate for people: 42256, 2.70 M, 1.3 k.
function human(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  const a = Math.abs(value);
  if (a >= 1e9) return `${(value / 1e9).toFixed(2)} G`;
  if (a >= 1e6) return `${(value / 1e6).toFixed(2)} M`;
  return short(value);
}

function query(name) {
  return new URLSearchParams(location.search).get(name) || "";
}

function link(path, params, text) {
  const q = new URLSearchParams(params).toString();
  return el("a", { href: q ? `${path}?${q}` : path }, text);
}

function table(headers, rows, numeric = []) {
  return el("table", {},
    el("thead", {}, el("tr", {}, headers.map((h, i) => el("th", { class: numeric[i] ? "num" : null }, h)))),
    el("tbody", {}, rows.map((cells) =>
      el("tr", {}, cells.map((c, i) => el("td", { class: numeric[i] ? "num" : null }, c))))));
}

/// A server-drawn SVG chart (from iomux's own chart code) in a figure.
function svgFigure(name, svg) {
  const figure = el("figure", { "data-chart": name });
  const holder = el("div");
  holder.innerHTML = svg; // drawn and escaped by iomux itself
  figure.append(holder, el("figcaption", {}, name));
  return figure;
}

// ---- runs ------------------------------------------------------------------------------

async function runsPage() {
  const params = new URLSearchParams(location.search);
  const form = el("form", { class: "filters", method: "get", action: "/" },
    ["experiment", "testbed", "commit", "since"].map((name) =>
      el("label", {}, name,
        el("input", { name, value: params.get(name) || "", size: name === "since" ? 12 : 14,
                      placeholder: name === "since" ? "7d, 2026-11-28" : "" }))),
    el("button", { type: "submit" }, "Filter"));
  const data = await api(`/api/runs?${params.toString()}`);
  document.getElementById("store").textContent = data.store;
  const chosen = new Set();
  const compare = el("button", { type: "button", disabled: "" }, "Compare the two chosen runs");
  compare.addEventListener("click", () => {
    const picked = data.runs.filter((r) => chosen.has(r.id)).sort((x, y) => x.started - y.started);
    location.href = `/compare?a=${encodeURIComponent(picked[0].id)}&b=${encodeURIComponent(picked[1].id)}`;
  });
  const rows = data.runs.map((run) => {
    const box = el("input", { type: "checkbox", "aria-label": `choose ${run.id}` });
    box.addEventListener("change", () => {
      if (box.checked) chosen.add(run.id); else chosen.delete(run.id);
      compare.disabled = chosen.size !== 2;
    });
    return [box, link("/run", { id: run.id }, run.id), utc(run.started), el("code", {}, run.git_commit),
            run.experiments.join(", ") + (run.quick ? " (quick)" : ""), run.points,
            `${run.host} ${run.testbed.slice(0, 8)}`, run.finished ? "" : "unfinished"];
  });
  show(
    el("h1", {}, "Stored runs"),
    form,
    data.runs.length === 0
      ? el("p", { class: "muted" }, "No runs match. `iomux bench echo` records one.")
      : table(["", "run", "started (UTC)", "commit", "experiments", "points", "testbed", ""], rows,
              [false, false, false, false, false, true]),
    compare);
}

// ---- one run ---------------------------------------------------------------------------

async function runPage() {
  const id = query("id");
  if (!id) throw new Error("which run? /run?id=RUN");
  const data = await api(`/api/runs/${encodeURIComponent(id)}`);
  const run = data.run;
  const t = run.testbed;
  const testbed = el("dl", { class: "testbed" },
    el("dt", {}, "host"), el("dd", {}, t.host),
    el("dt", {}, "CPU"), el("dd", {}, `${t.cpu_model} (${t.cores} cores${t.virtualized ? ", virtualised" : ""})`),
    el("dt", {}, "kernel"), el("dd", {}, t.kernel),
    el("dt", {}, "RLIMIT_NOFILE"), el("dd", {}, t.nofile_limit),
    el("dt", {}, "pinning"), el("dd", {}, t.server_cpu === null ? "none (one CPU)" : `server CPU ${t.server_cpu}, load CPU ${t.load_cpu}`),
    el("dt", {}, "build"), el("dd", {}, `iomux ${run.iomux_version}, commit ${run.git_commit}`),
    el("dt", {}, "command"), el("dd", { class: "mono" }, run.command_line.join(" ")),
    el("dt", {}, "started"), el("dd", {}, `${utc(run.started)} UTC${run.finished ? ", finished " + utc(run.finished) : ", unfinished"}`));
  // The tables and charts, per experiment, are drawn by tables.js; the terminal's text stays
  // one click away.
  show(
    el("h1", {}, `Run ${run.id}`),
    testbed,
    data.experiments.map(experimentSection),
    el("details", { class: "as-text" },
      el("summary", {}, "The same tables as the terminal prints them"),
      el("pre", { class: "report" }, data.text)));
}

// ---- compare ---------------------------------------------------------------------------

async function comparePage() {
  const a = query("a"), b = query("b");
  const form = el("form", { class: "filters", method: "get", action: "/compare" },
    el("label", {}, "A (baseline)", el("input", { name: "a", value: a, placeholder: "latest~1", required: "" })),
    el("label", {}, "B (judged)", el("input", { name: "b", value: b, placeholder: "latest", required: "" })),
    el("button", { type: "submit" }, "Compare"));
  if (!a || !b) {
    show(el("h1", {}, "Compare two runs"), form,
      el("p", { class: "muted" }, "Run ids, their starts, latest or latest~N."));
    return;
  }
  const data = await api(`/api/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
  const c = data.comparison;
  const showNoise = el("input", { type: "checkbox", id: "show-noise" });
  const body = el("div");
  const draw = () => {
    const rows = c.rows.filter((r) => showNoise.checked || r.verdict !== "noise").map((r) => [
      el("span", { class: "mono" }, r.point), r.metric, short(r.a), short(r.b), short(r.ratio),
      el("span", { class: `verdict-${r.verdict}` }, r.verdict), r.rule,
      link("/history", { point: r.point, metric: r.metric }, "history")]);
    body.replaceChildren(rows.length
      ? table(["point", "metric", "A", "B", "B/A", "verdict", "rule", ""], rows, [false, false, true, true, true])
      : el("p", { class: "muted" }, "Every change is noise (tick the box to see the rows)."));
  };
  showNoise.addEventListener("change", draw);
  draw();
  const mode = c.mode.mode === "absolute"
    ? `Same testbed: the figures themselves are compared, timings also against the same run's peers; ${c.history_runs} earlier run(s) with the same settings inform the noise bands.`
    : c.mode.mode === "arms"
    ? "Interleaved arms of one run: A = the --against binary, B = this build, pair by pair."
    : `Different testbeds: each subject is compared as its ratio to the reference subject in the same run (${Object.entries(c.mode.references).map(([e, s]) => `${e}: ${s}`).join(", ")}), never as absolute times.`;
  const counts = data.counts;
  show(
    el("h1", {}, "Compare"), form,
    el("p", {}, "A: ", link("/run", { id: data.a.id }, data.a.id), ` (${data.a.testbed.host}, commit ${data.a.git_commit})`,
      el("br"), "B: ", link("/run", { id: data.b.id }, data.b.id), ` (${data.b.testbed.host}, commit ${data.b.git_commit})`),
    el("p", { class: "muted" }, mode),
    c.same_commit ? el("p", { id: "aa" }, `A/A: both runs are commit ${c.same_commit}: the code is the same, so any decisive verdict here is a false one.`) : null,
    el("p", { class: "muted", id: "chance" }, `${c.judged} rows judged; chance alone would give about ${c.chance.toFixed(1)} decisive verdicts at these bands.`),
    c.controls_moved.length ? el("p", { class: "verdict-regression" }, `Controls moved (${c.controls_moved.join("; ")}): no timed verdict stands; rerun.`) : null,
    el("p", { class: "counts", id: "counts" },
      el("span", { class: "verdict-regression" }, `${counts.regression} regression(s)`),
      el("span", { class: "verdict-improvement" }, `${counts.improvement} improvement(s)`),
      el("span", { class: "verdict-changed" }, `${counts.changed} changed`),
      el("span", { class: "verdict-inconclusive" }, `${counts.inconclusive} inconclusive`),
      el("span", { class: "verdict-noise" }, `${counts.noise} noise`)),
    el("label", {}, showNoise, " show noise rows"),
    body,
    onlyIn("A", c.only_in_a), onlyIn("B", c.only_in_b));
}

function onlyIn(run, points) {
  if (!points.length) return null;
  return el("details", {}, el("summary", { class: "muted" }, `${points.length} point(s) measured only in ${run}`),
    el("ul", { class: "mono" }, points.map((p) => el("li", {}, p))));
}

// ---- history ---------------------------------------------------------------------------

async function historyPage() {
  const point = query("point");
  if (!point) throw new Error("which point? /history?point=KEY (a run's page links each)");
  const params = new URLSearchParams({ point });
  for (const name of ["metric", "testbed"]) if (query(name)) params.set(name, query(name));
  const data = await api(`/api/history?${params.toString()}`);
  const h = data.history;
  const rows = h.runs.map((r) => [utc(r.started), link("/run", { id: r.run }, r.run), el("code", {}, r.git_commit),
    short(r.median), r.repeats.length > 1 ? `${short(Math.min(...r.repeats))} to ${short(Math.max(...r.repeats))}` : "",
    r.change === null ? "" : `${(r.change * 100).toFixed(1)}%`, r.change_point ? "◆ change point" : ""]);
  show(
    el("h1", {}, `${h.point} · ${h.metric}`),
    el("p", { class: "muted" }, `Testbed ${h.host} ${h.testbed.slice(0, 8)}; ${h.better === "lower" ? "lower is better" : h.better === "higher" ? "higher is better" : "a count"}.`),
    el("div", { class: "charts" }, svgFigure(`${h.point} ${h.metric}`, data.svg)),
    table(["started (UTC)", "run", "commit", "median", "repeats", "change", ""], rows, [false, false, false, true, true, true]),
    el("p", { class: "muted" }, h.rule));
}

// ---- live ------------------------------------------------------------------------------

const LIVE_SERIES = [
  ["messages", "messages/s", (s) => s.rates && s.rates.messages],
  ["bytes", "bytes in/s", (s) => s.rates && s.rates.bytes_in],
  ["waits", "waits/s", (s) => s.rates && s.rates.waits],
  ["cpu", "CPU %", (s) => s.rates && s.rates.cpu_percent],
];
const LIVE_TILES = [
  ["open", "connections open", (s) => s.stats.open],
  ["messages", "messages/s", (s) => s.rates && s.rates.messages],
  ["bytes-in", "bytes in/s", (s) => s.rates && s.rates.bytes_in],
  ["bytes-out", "bytes out/s", (s) => s.rates && s.rates.bytes_out],
  ["waits", "waits/s", (s) => s.rates && s.rates.waits],
  ["fds-per-wait", "fds passed per wait", (s) => s.rates && s.rates.fds_per_wait],
  ["events-per-wait", "events per wait", (s) => s.rates && s.rates.events_per_wait],
  ["cpu", "CPU %", (s) => s.rates && s.rates.cpu_percent],
  ["buffered", "bytes buffered for clients", (s) => s.stats.buffered_bytes],
];
const LIVE_WINDOW = 60;

/// A small line chart of the last samples, drawn as SVG.
function drawLive(svg, values, title) {
  const w = 360, h = 140, left = 50, top = 18, bottom = 16;
  const finite = values.filter((v) => Number.isFinite(v));
  const max = finite.length ? Math.max(1e-9, ...finite) : 0;
  const x = (i) => left + (w - left - 6) * (i / Math.max(1, LIVE_WINDOW - 1));
  const y = (v) => top + (h - top - bottom) * (1 - (max > 0 ? v / max : 0));
  const offset = LIVE_WINDOW - values.length;
  const points = values.map((v, i) => Number.isFinite(v) ? `${x(i + offset).toFixed(1)},${y(v).toFixed(1)}` : null)
    .filter(Boolean).join(" ");
  svg.innerHTML =
    `<text x="${left}" y="12">${title}</text>` +
    (finite.length ? `<text x="${left - 4}" y="${top + 4}" text-anchor="end">${human(max)}</text>` : "") +
    `<text x="${left - 4}" y="${h - bottom}" text-anchor="end">0</text>` +
    `<line x1="${left}" x2="${w - 6}" y1="${h - bottom}" y2="${h - bottom}" stroke="#ccc"/>` +
    `<polyline class="line" points="${points}"/>`;
  svg.dataset.points = String(finite.length);
}

function livePage() {
  const addr = query("addr");
  const input = el("input", { name: "addr", value: addr, placeholder: "127.0.0.1:9100", list: "watched", required: "" });
  const watched = el("datalist", { id: "watched" });
  api("/api/watch").then((d) => {
    watched.replaceChildren(...d.watch.map((a) => el("option", { value: a })));
    if (!addr && d.watch.length) input.value = d.watch[0];
  }).catch(() => {});
  const form = el("form", { class: "filters", method: "get", action: "/live" },
    el("label", {}, "server (iomux serve --stats-addr)", input), watched, el("button", { type: "submit" }, "Watch"));
  if (!addr) {
    show(el("h1", {}, "Live"), form,
      el("p", { class: "muted" }, "Start a server with `iomux serve --stats-addr 127.0.0.1:9100`, then watch it here."));
    return;
  }
  const status = el("p", { id: "live-status", class: "muted" }, `connecting to ${addr}…`);
  const tiles = el("div", { class: "tiles" }, LIVE_TILES.map(([id, label]) =>
    el("div", { class: "tile" }, el("div", { class: "value", id: `live-${id}` }, "–"), el("div", { class: "label" }, label))));
  const charts = LIVE_SERIES.map(([id]) => {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 360 140");
    svg.setAttribute("class", "live");
    svg.id = `chart-${id}`;
    return svg;
  });
  const history = LIVE_SERIES.map(() => []);
  show(el("h1", {}, `Live: ${addr}`), form, status, tiles,
    el("div", { class: "charts" }, charts.map((svg) => el("figure", {}, svg))));
  LIVE_SERIES.forEach(([, title], i) => drawLive(charts[i], history[i], title));

  const source = new EventSource(`/api/live?addr=${encodeURIComponent(addr)}`);
  source.addEventListener("stats", (e) => {
    const sample = JSON.parse(e.data);
    const s = sample.stats;
    status.className = "status-up";
    status.textContent = `${s.model}${s.backend ? " (" + s.backend + ")" : ""}, pid ${s.pid}, up ${s.uptime_s.toFixed(0)} s; ${s.accepted} connections served`;
    for (const [id, , pick] of LIVE_TILES) {
      const v = pick(sample);
      document.getElementById(`live-${id}`).textContent = human(v);
    }
    LIVE_SERIES.forEach(([, title, pick], i) => {
      history[i].push(pick(sample));
      if (history[i].length > LIVE_WINDOW) history[i].shift();
      drawLive(charts[i], history[i], title);
    });
  });
  source.addEventListener("down", (e) => {
    const d = JSON.parse(e.data);
    status.className = "status-down";
    status.textContent = `waiting for ${d.addr}: ${d.error} (retrying every second)`;
  });
  source.addEventListener("error", () => {
    status.className = "status-down";
    status.textContent = "the connection to iomux web dropped; reconnecting…";
  });
}

// ---- start -----------------------------------------------------------------------------

// The traces pages are in timeline.js, the claims page in claims.js.
const PAGES = { "/": runsPage, "/run": runPage, "/compare": comparePage, "/history": historyPage,
  "/claims": claimsPage, "/live": livePage, "/traces": tracesPage, "/trace": tracePage };

async function start() {
  const page = PAGES[location.pathname];
  const name = { "/": "runs", "/run": "runs", "/history": "runs", "/compare": "compare", "/claims": "claims",
    "/live": "live", "/traces": "traces", "/trace": "traces" }[location.pathname];
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("current", a.dataset.page === name);
  if (!page) return showError(new Error(`no page at ${location.pathname}`));
  try {
    await page();
    document.title = `iomux · ${document.querySelector("h1")?.textContent || name}`;
    document.body.dataset.ready = "1";
  } catch (e) {
    showError(e);
    document.body.dataset.ready = "error";
  }
}

start();
