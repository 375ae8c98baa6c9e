// One run, live: progress and ETA, throughput, states, workers, failures, log files.
"use strict";

const RUN_ID = segments()[1];
const openFailures = new Set();

function drawThroughput(data) {
  const chart = document.getElementById("throughput");
  const points = data.throughput.points;
  const step = data.throughput.step;
  chart.replaceChildren();
  const width = 800, height = 160, pad = 24;
  const top = Math.max(1, ...points.map((p) => p[1]));
  const x = (i) => pad + ((width - 2 * pad) * i) / Math.max(1, points.length - 1);
  const y = (v) => height - pad - ((height - 2 * pad) * v) / top;
  chart.append(svg("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, stroke: "#d0d7de" }));
  if (points.length) {
    const line = points.map((p, i) => `${x(i).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
    chart.append(svg("polyline", { points: line, fill: "none", stroke: "#0969da", "stroke-width": 2, id: "throughput-line" }));
  }
  const label = svg("text", { x: pad, y: 14 });
  label.textContent = `max ${top} items per ${step}s`;
  chart.append(label);
  replace("throughput-note", `${points.length} intervals of ${step} s since the run started`);
}

function drawStates(s) {
  const table = replace("states", el("tr", {},
    ...["pending", "running", "done", "failed", "total"].map((h) => el("th", { class: "num", text: h }))));
  table.append(el("tr", {},
    ...[s.pending, s.running, s.done, s.failed, s.total].map((v, i) =>
      el("td", { class: "num", id: `state-${["pending", "running", "done", "failed", "total"][i]}`, text: v }))));
}

function drawWorkers(data) {
  const stats = Object.fromEntries(data.worker_stats.map((s) => [s.worker, s]));
  const table = replace("workers", el("tr", {},
    el("th", { text: "worker" }), el("th", { text: "node" }), el("th", { class: "num", text: "PID" }),
    el("th", { text: "state" }),
    el("th", { class: "num", text: "CPU %" }), el("th", { class: "num", text: "memory" }),
    el("th", { class: "num", text: "current mini-batch" }), el("th", { class: "num", text: "items" }),
    el("th", { class: "num", text: "items/s in run()" }), el("th", { text: "log" })));
  for (const w of data.workers) {
    const s = stats[`${w.node}/${w.name}`] || {};
    table.append(el("tr", { class: "worker" },
      el("td", { text: w.name }), el("td", { text: w.node }), el("td", { class: "num", text: w.pid }),
      el("td", { text: w.state }),
      el("td", { class: "num", text: w.cpu_percent === null ? "–" : w.cpu_percent.toFixed(0) }),
      el("td", { class: "num", text: bytes(w.rss_bytes) }),
      el("td", { class: "num", text: w.current === null ? "–" : w.current }),
      el("td", { class: "num", text: s.items ?? 0 }),
      el("td", { class: "num", text: s.items_per_second ? s.items_per_second.toFixed(1) : "–" }),
      el("td", {}, w.log ? el("a", { href: fileUrl(w.log) }, "log") : "")));
  }
}

function fileUrl(path) {
  return `/runs/${encodeURIComponent(RUN_ID)}/files/${path.split("/").map(encodeURIComponent).join("/")}`;
}

function drawFailures(failures) {
  const box = document.getElementById("failures");
  for (const d of box.querySelectorAll("details")) {
    if (d.open) openFailures.add(d.dataset.key); else openFailures.delete(d.dataset.key);
  }
  if (!failures.length) { box.replaceChildren(el("span", { class: "muted", text: "none" })); return; }
  box.replaceChildren(...failures.map((f, i) => {
    const key = `${f.mini_batch}/${f.attempt}`;
    const open = openFailures.has(key) || (i === 0 && !box.dataset.seen);
    const details = el("details", { class: "failure", "data-key": key },
      el("summary", {}, el("b", {}, `mini-batch ${f.mini_batch}`),
        ` attempt ${f.attempt} on ${f.worker}: ${f.type}: ${f.message}`),
      el("div", { class: "small" }, "inputs: ", el("code", {}, f.inputs.join(", "))),
      el("pre", { class: "traceback" }, f.traceback));
    if (open) details.setAttribute("open", "");
    return details;
  }));
  box.dataset.seen = "1";
}

function drawLogs(logs) {
  const table = replace("logs", el("tr", {}, el("th", { text: "file" }), el("th", { class: "num", text: "size" })));
  for (const f of logs) {
    table.append(el("tr", {}, el("td", {}, el("a", { href: fileUrl(f.path), class: "log-file" }, f.path)),
      el("td", { class: "num", text: bytes(f.size) })));
  }
}

async function load() {
  const data = await getJSON(`/api/runs/${encodeURIComponent(RUN_ID)}`);
  const s = data.summary;
  document.title = `${s.run_id} · shardrun`;
  replace("run-id", s.run_id);
  replace("status", statusCell(s.status));
  replace("reason", s.reason);
  const total = s.total || 1;
  replace("progress-bar",
    el("div", { class: "done", style: `width:${(100 * s.done) / total}%` }),
    el("div", { class: "failed", style: `width:${(100 * s.failed) / total}%` }),
    el("div", { class: "running", style: `width:${(100 * s.running) / total}%` }));
  const text = replace("progress-text",
    `${s.finished} of ${s.total} mini-batches finished (${Math.round(100 * s.progress)}%)`);
  text.dataset.finished = s.finished;
  text.dataset.total = s.total;
  replace("eta", s.eta_seconds === null ? (s.driver_alive ? "…" : "–") : duration(s.eta_seconds));
  replace("rate", s.items_per_second.toFixed(1));
  replace("items-ok", s.succeeded_items);
  replace("items-failed", s.failed_items);
  replace("duration", duration(s.duration));
  replace("started", when(s.started));
  replace("output", s.output);
  drawThroughput(data);
  drawStates(s);
  drawWorkers(data);
  drawFailures(data.failures);
  drawLogs(data.logs);
  replace("config", JSON.stringify(data.config, null, 2));
}

poll(load);
