// Helpers shared by the three pages: fetch JSON, build elements, format numbers.
"use strict";

const REFRESH_MS = 1000;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  return node;
}

async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

function when(timestamp) {
  return timestamp ? new Date(timestamp * 1000).toLocaleString() : "–";
}

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function statusCell(status) {
  return el("span", { class: `status ${status}`, text: status });
}

function replace(id, ...children) {
  const node = document.getElementById(id);
  node.replaceChildren(...children);
  return node;
}

// Poll `load` every second; a failed poll is shown, and the next one tries again.
function poll(load) {
  const tick = async () => {
    try {
      await load();
      replace("error");
    } catch (error) {
      replace("error", String(error));
    }
    setTimeout(tick, REFRESH_MS);
  };
  tick();
}

function segments(path) {
  return location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
}

function runLink(runId) {
  return el("a", { href: `/runs/${encodeURIComponent(runId)}` }, runId);
}
