// iomux web: the course notes' claims (/api/claims), each with the newest stored run that
// measures it, its figures, the verdict computed from them, its chart, and the command.
"use strict";

const VERDICT_WORDS = { held: "held", "not-held": "not held", unmeasured: "not measured", corrected: "corrected" };

async function claimsPage() {
  const testbed = query("testbed");
  const data = await api(`/api/claims${testbed ? `?testbed=${encodeURIComponent(testbed)}` : ""}`);
  document.getElementById("store").textContent = data.store;
  const counts = {};
  for (const f of data.findings) counts[f.verdict] = (counts[f.verdict] || 0) + 1;
  // A chart shared by several claims (one run's wait chart) is drawn beside the first only.
  const drawn = new Map();
  show(
    el("h1", {}, "The notes' claims, on this machine"),
    el("p", { class: "muted" },
      "Each claim of the course notes, checked against the newest stored run that measures it. ",
      "The verdict is computed from that run's figures by the rule shown under it; ",
      el("code", {}, "iomux runs claims"), " prints the same in a terminal."),
    el("p", { class: "counts", id: "claim-counts" },
      Object.entries(VERDICT_WORDS).filter(([v]) => counts[v]).map(([v, word]) =>
        el("span", { class: `claim-verdict verdict-${v}` }, `${counts[v]} ${word}`))),
    data.findings.map((f) => claimCard(f, drawn)),
    data.commands.length
      ? el("section", { id: "claim-commands" },
          el("h2", {}, "To measure what no stored run has measured yet"),
          el("pre", { class: "report" }, data.commands.join("\n")))
      : null);
}

function claimCard(f, drawn) {
  const figures = f.figures.length
    ? el("div", { class: "scroll" }, table(["point", "figure", "value"],
        f.figures.map((g) => [link("/history", { point: g.point }, g.point), g.metric, short(g.value)]),
        [false, false, true]))
    : null;
  const run = f.run
    ? el("p", { class: "claim-run" }, "From run ", link("/run", { id: f.run.id }, f.run.id),
        ` (${utc(f.run.started)} UTC, ${f.run.host}, commit ${f.run.git_commit})`,
        f.run.quick ? el("span", { class: "muted" }, " — a --quick run: figures for checking only") : null)
    : null;
  const command = f.command
    ? el("p", { class: "claim-command" }, f.verdict === "unmeasured" ? "Measure it: " : "Measure it again: ",
        el("code", {}, f.command))
    : null;
  let chart = null;
  if (f.chart && f.run) {
    const key = `${f.run.id} ${f.chart.name}`;
    if (drawn.has(key)) {
      chart = el("p", { class: "muted" }, "Its chart is beside claim ",
        el("a", { href: `#claim-${drawn.get(key).id}` }, String(drawn.get(key).number)), ".");
    } else {
      drawn.set(key, f);
      chart = svgFigure(f.chart.name, f.chart.svg);
    }
  }
  return el("article", { class: "claim", id: `claim-${f.id}`, "data-verdict": f.verdict },
    el("div", { class: "claim-text" },
      el("h2", {}, `${f.number}. ${f.claim} `,
        el("span", { class: `claim-verdict verdict-${f.verdict}` }, VERDICT_WORDS[f.verdict])),
      f.experiment
        ? el("p", { class: "muted" }, "Measured by ", el("code", {}, `bench ${f.experiment}`),
            `: ${f.metric} of ${f.subjects.join(" vs ")}`)
        : null,
      el("p", { class: "claim-summary" }, f.summary),
      el("p", { class: "muted claim-rule" }, f.rule),
      figures, run, command),
    chart ? el("div", { class: "claim-chart" }, chart) : null);
}
