// A pipeline run: its steps as a graph (columns by depth), coloured by state.
"use strict";

const [, EXPERIMENT, PIPELINE_RUN] = segments();

function layout(steps) {
  const depth = {};
  const byName = Object.fromEntries(steps.map((s) => [s.name, s]));
  const visit = (s) => {
    if (depth[s.name] !== undefined) return depth[s.name];
    depth[s.name] = 0;
    depth[s.name] = Math.max(0, ...s.after.filter((a) => byName[a]).map((a) => visit(byName[a]) + 1));
    return depth[s.name];
  };
  steps.forEach(visit);
  const rows = {};
  const at = {};
  for (const s of steps) {
    const d = depth[s.name];
    rows[d] = (rows[d] || 0) + 1;
    at[s.name] = { x: 20 + d * 220, y: 20 + (rows[d] - 1) * 80 };
  }
  return { at, height: 40 + Math.max(...Object.values(rows)) * 80 };
}

function drawGraph(steps) {
  const graph = document.getElementById("graph");
  const { at, height } = layout(steps);
  graph.setAttribute("height", height);
  graph.replaceChildren();
  const w = 170, h = 48;
  for (const s of steps) {
    for (const a of s.after) {
      if (!at[a]) continue;
      graph.append(svg("line", { class: "edge", x1: at[a].x + w, y1: at[a].y + h / 2,
        x2: at[s.name].x, y2: at[s.name].y + h / 2, stroke: "#57606a", "stroke-width": 1.5,
        "data-from": a, "data-to": s.name }));
    }
  }
  for (const s of steps) {
    const g = svg("g", { class: `node ${s.status}`, "data-step": s.name, "data-status": s.status });
    g.append(svg("rect", { x: at[s.name].x, y: at[s.name].y, width: w, height: h }));
    const name = svg("text", { x: at[s.name].x + 10, y: at[s.name].y + 19 });
    name.textContent = s.name;
    const state = svg("text", { x: at[s.name].x + 10, y: at[s.name].y + 37 });
    const p = s.progress;
    state.textContent = s.status + (p && p.total ? ` · ${p.finished}/${p.total}` : "") +
      (s.reused_from ? " · reused" : "");
    g.append(name, state);
    const link = s.has_run ? svg("a", { href: `/runs/${encodeURIComponent(s.reused_from || s.run_id)}` }) : null;
    if (link) { link.append(g); graph.append(link); } else graph.append(g);
  }
}

async function load() {
  const data = await getJSON(`/api/pipelines/${encodeURIComponent(EXPERIMENT)}/${encodeURIComponent(PIPELINE_RUN)}`);
  document.title = `${data.run_id} · shardrun`;
  replace("run-id", data.run_id);
  replace("status", statusCell(data.status));
  replace("reason", data.reason || "");
  replace("experiment", data.experiment);
  replace("created", when(data.created));
  drawGraph(data.steps);
  const table = replace("steps", el("tr", {}, el("th", { text: "step" }), el("th", { text: "status" }),
    el("th", { text: "after" }), el("th", { text: "run" })));
  for (const s of data.steps) {
    table.append(el("tr", {}, el("td", { text: s.name }), el("td", {}, statusCell(s.status)),
      el("td", { text: s.after.join(", ") || "–" }),
      el("td", {}, s.has_run ? runLink(s.reused_from || s.run_id) : el("span", { class: "muted", text: s.run_id }))));
  }
}

poll(load);
