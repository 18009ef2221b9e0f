// iomux web: a run's tables (one per point group, from /api/runs/RUN's experiments), sortable by
// any column, the best figure of each column marked, each row's headline ratio to the
// experiment's reference subject coloured, the experiment's charts beside them.
"use strict";

const BETTER_WORDS = { lower: "lower is better", higher: "higher is better", neither: "no better direction" };

/// One experiment of a run: its tables beside its charts.
function experimentSection(e) {
  const legend = el("p", { class: "muted legend" },
    "Click a header to sort by it. ",
    el("span", { class: "best" }, "Bold"), " marks the best figure of a column (which way is better comes from the metric catalogue; hover a header). ",
    e.reference ? [`× ${e.reference}: each row's ${e.headline} (or the table's first metric with a direction) over ${e.reference}'s, `,
      el("span", { class: "ratio-better" }, "better"), " or ", el("span", { class: "ratio-worse" }, "worse"),
      " beyond the metric's minimum effect (10% for timings, 3% for counts). "] : null,
    "A subject links to its point's history.");
  return el("section", { class: "experiment", "data-experiment": e.name },
    el("h2", {}, `bench ${e.name}`),
    el("p", { class: "muted" }, e.intro),
    el("div", { class: "experiment-body" },
      el("div", { class: "experiment-tables" }, legend,
        e.tables.length ? e.tables.map((t) => pointTable(t)) : el("p", { class: "muted" }, "No points recorded.")),
      e.charts.length
        ? el("div", { class: "experiment-charts" }, e.charts.map((c) => svgFigure(c.name, c.svg)))
        : null));
}

/// The columns of one point table: how each is headed, sorted and shown.
function tableColumns(t) {
  const columns = [
    { label: "subject", title: "the model, backend or peer measured", key: (r) => r.subject,
      cell: (r) => link("/history", { point: r.point }, r.subject) },
  ];
  t.row_params.forEach((name, i) => columns.push({
    label: name, key: (r) => r.params[i] ?? "", cell: (r) => r.params[i] ?? "" }));
  t.columns.forEach((c, i) => columns.push({
    label: c.label, title: `${c.metric}: ${c.about ? c.about + "; " : ""}${BETTER_WORDS[c.better]}`,
    numeric: true, key: (r) => r.values[i],
    cell: (r) => (r.values[i] === null ? "–" : short(r.values[i])),
    best: (r) => c.best !== null && r.values[i] === c.best }));
  if (t.reference && t.ratio_metric) {
    columns.push({
      label: `× ${t.reference}`, title: `${t.ratio_metric} over ${t.reference}'s at the same point`,
      numeric: true, key: (r) => r.ratio,
      cell: (r) => (r.ratio === null ? "–" : r.ratio.toFixed(2)),
      class: (r) => (r.ratio_class ? `ratio-${r.ratio_class}` : null) });
  }
  return columns;
}

/// Orders rows by a column: numbers as numbers, text as text, missing figures last either way.
function compareBy(column, direction) {
  return (x, y) => {
    const a = column.key(x), b = column.key(y);
    const missingA = a === null || a === undefined || a === "", missingB = b === null || b === undefined || b === "";
    if (missingA || missingB) return missingA === missingB ? 0 : missingA ? 1 : -1;
    const order = typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b));
    return direction * order;
  };
}

/// One point group as a sortable table.
function pointTable(t) {
  const columns = tableColumns(t);
  const body = el("tbody");
  let sorted = { column: -1, direction: 1 };
  const draw = () => {
    const rows = t.rows.slice();
    if (sorted.column >= 0) rows.sort(compareBy(columns[sorted.column], sorted.direction));
    body.replaceChildren(...rows.map((r) => el("tr", { "data-point": r.point },
      columns.map((c) => el("td", {
        class: [c.numeric ? "num" : null, c.best && c.best(r) ? "best" : null, c.class ? c.class(r) : null]
          .filter(Boolean).join(" ") || null,
        title: c.best && c.best(r) ? "the best figure of this column" : null,
      }, c.cell(r))))));
  };
  const headers = columns.map((c, i) => {
    const th = el("th", { class: c.numeric ? "num sortable" : "sortable", title: c.title, tabindex: "0", scope: "col" }, c.label);
    const sort = () => {
      sorted = { column: i, direction: sorted.column === i ? -sorted.direction : 1 };
      for (const other of headers) other.removeAttribute("aria-sort");
      th.setAttribute("aria-sort", sorted.direction > 0 ? "ascending" : "descending");
      draw();
    };
    th.addEventListener("click", sort);
    th.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
    return th;
  });
  draw();
  return el("div", { class: "point-table" },
    el("h3", {}, t.title || "all points"),
    el("div", { class: "scroll" }, el("table", { class: "sortable" }, el("thead", {}, el("tr", {}, headers)), body)));
}
