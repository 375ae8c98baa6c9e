// The workspace at a glance: experiments, pipeline runs, runs.
"use strict";

function progressBar(run) {
  const total = run.total || 1;
  return el("div", { class: "bar", title: `${run.finished}/${run.total}` },
    el("div", { class: "done", style: `width:${(100 * run.done) / total}%` }),
    el("div", { class: "failed", style: `width:${(100 * run.failed) / total}%` }));
}

async function load() {
  const data = await getJSON("/api/overview");
  replace("workspace", data.workspace);
  replace("experiments", data.experiments.length
    ? el("span", {}, data.experiments.join(" · "))
    : el("span", { class: "muted", text: "no experiments yet" }));
  const pipelines = replace("pipeline-runs", el("tr", {},
    el("th", { text: "pipeline run" }), el("th", { text: "experiment" }),
    el("th", { text: "status" }), el("th", { text: "steps" }), el("th", { text: "created" })));
  for (const p of data.pipeline_runs) {
    const href = `/pipelines/${encodeURIComponent(p.experiment)}/${encodeURIComponent(p.run_id)}`;
    const done = p.steps.filter((s) => s.status === "Completed").length;
    pipelines.append(el("tr", {},
      el("td", {}, el("a", { href }, p.run_id)), el("td", { text: p.experiment }),
      el("td", {}, statusCell(p.status)),
      el("td", { text: `${done}/${p.steps.length}` }), el("td", { text: when(p.created) })));
  }
  const runs = replace("runs", el("tr", {},
    el("th", { text: "run" }), el("th", { text: "experiment" }), el("th", { text: "status" }),
    el("th", { text: "progress" }), el("th", { class: "num", text: "items/s" }),
    el("th", { class: "num", text: "failed items" }), el("th", { text: "started" }),
    el("th", { class: "num", text: "duration" })));
  for (const r of data.runs) {
    runs.append(el("tr", { "data-run-id": r.run_id },
      el("td", {}, runLink(r.run_id)), el("td", { text: r.experiment }),
      el("td", {}, statusCell(r.status)),
      el("td", { style: "min-width:140px" }, progressBar(r),
        el("span", { class: "small muted" }, `${r.finished}/${r.total}`)),
      el("td", { class: "num", text: r.items_per_second.toFixed(1) }),
      el("td", { class: "num", text: r.failed_items }),
      el("td", { text: when(r.started || r.created) }),
      el("td", { class: "num", text: duration(r.duration) })));
  }
}

poll(load);
