// The mdfnet page: builds the form from /api/info, posts the radiograph and the values to /api/predict,
// draws the boxes on the returned preview and fills the findings and effects tables.
// Plain browser JavaScript, no library, nothing fetched from anywhere but this server.
// document.body.dataset.state is "ready", "busy", "done" or "error" (the tests wait on it).
"use strict";

const state = { info: null, result: null, preview: null };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== "") node.textContent = text;
  return node;
}

function setState(name) { document.body.dataset.state = name; }

function showMessage(text) {
  $("message").textContent = text;
  $("message").hidden = false;
  $("status").textContent = "";
  setState("error");
}

function feature(name) { return state.info.features.find((f) => f.name === name); }

function fmt(x) { return Number(x).toFixed(4); }

function signed(x) { return (x > 0 ? "+" : x < 0 ? "−" : "±") + Math.abs(x).toFixed(4); }

async function init() {
  const response = await fetch("/api/info");
  const info = await response.json();
  state.info = info;
  $("model").textContent = `${info.model} (${info.variant}, ${info.spatialiser} spatialiser, ` +
    `${info.image_size} px) · ${info.checkpoint}`;
  const values = $("values");
  for (const f of info.features) {
    const label = el("label", { class: f.used ? "value" : "value unused" });
    label.append(el("span", { class: "name" }, f.label));
    let input;
    if (f.choices) {
      input = el("select", { name: f.name, id: `value-${f.name}` });
      input.append(el("option", { value: "" }, "–"));
      for (const c of f.choices) input.append(el("option", { value: c }, c));
    } else {
      input = el("input", { name: f.name, id: `value-${f.name}`, type: "text", inputmode: "decimal",
                            autocomplete: "off", placeholder: `${f.min}–${f.max}` });
    }
    label.append(input, el("span", { class: "unit" }, f.unit));
    if (!f.used) label.title = "this model does not read this value";
    values.append(label);
  }
  $("form").addEventListener("submit", run);
  $("threshold").addEventListener("input", applyThreshold);
  for (const radio of document.querySelectorAll("input[name=view]")) radio.addEventListener("change", showView);
  setState("ready");
}

async function run(event) {
  event.preventDefault();
  $("message").hidden = true;
  const file = $("image").files[0];
  if (!file) return showMessage("Choose a radiograph first (DICOM, JPEG or PNG).");
  const limit = state.info.max_upload_mb;
  if (file.size > limit * 1048576) return showMessage(`${file.name}: file is larger than the limit of ${limit} MB`);
  const data = new FormData();
  data.append("image", file, file.name);
  for (const f of state.info.features) {
    const value = $(`value-${f.name}`).value.trim();
    if (value !== "") data.append(f.name, value);
  }
  data.append("explain", "true");
  data.append("preview", "true");
  $("run").disabled = true;
  $("status").textContent = "Reading the radiograph…";
  setState("busy");
  try {
    const response = await fetch("/api/predict", { method: "POST", body: data });
    const body = await response.json().catch(() => ({ error: `the server answered ${response.status}` }));
    if (!response.ok) return showMessage(body.error || `the server answered ${response.status}`);
    state.result = body;
    state.preview = await loadImage(body.preview);
    showResult();
    $("status").textContent = `${body.image}: ${body.detections.length} finding(s) in ` +
      `${(body.timing_ms.total / 1000).toFixed(2)} s`;
    setState("done");
  } catch (err) {
    showMessage(`No answer from the server: ${err}`);
  } finally {
    $("run").disabled = false;
  }
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error("the preview could not be shown"));
    image.src = src;
  });
}

function showResult() {
  const r = state.result;
  $("results").hidden = false;
  const label = (names) => names.map((n) => feature(n).label).join(", ");
  $("missing").textContent = r.missing.length
    ? `Left empty, so read as missing: ${label(r.missing)}.` : "Every value this model reads was entered.";
  if (r.ignored.length) $("missing").textContent += ` Not read by this model: ${label(r.ignored)}.`;
  $("notes").textContent = r.notes.join("; ");
  fillDetections(r);
  for (const view of ["missing", "median"]) fillEffects(r, view);
  applyThreshold();
}

function fillDetections(r) {
  const body = $("detections").querySelector("tbody");
  body.replaceChildren();
  r.detections.forEach((d, i) => {
    const row = el("tr", { "data-index": i, "data-score": d.score });
    const swatch = el("span", { class: "swatch", style: `background:${colour(d.category_id)}` });
    const name = el("td", { class: "label" });
    name.append(swatch, document.createTextNode(d.label));
    row.append(el("td", { class: "index" }, `${i + 1}`), name, el("td", { class: "score" }, fmt(d.score)),
               el("td", { class: "box" }, d.box.map((v) => v.toFixed(1)).join(", ")));
    body.append(row);
  });
}

function fillEffects(r, view) {
  const holder = $(`effects-${view}`);
  holder.replaceChildren();
  const explanation = r.explanation || { values: {}, references: {} };
  const entered = Object.keys(explanation.values);
  if (view === "median" && !explanation.references.median) {
    holder.append(el("p", { class: "muted" }, "This checkpoint stores no training medians (it was trained " +
      "before they were saved): retrain it to see this view."));
    return;
  }
  const features = entered.filter((f) => view === "missing" || f !== "gender");
  if (!state.info.features.some((f) => f.used)) {
    holder.append(el("p", { class: "muted" }, "This model reads the image only: no value to explain."));
    return;
  }
  if (!features.length) {
    holder.append(el("p", { class: "muted" }, view === "missing" ? "No value entered: nothing to explain."
      : "No number entered: nothing to compare with the medians."));
    return;
  }
  const table = el("table", { class: "effects-table", id: `effects-table-${view}` });
  const head = el("tr");
  head.append(el("th", {}, "#"), el("th", {}, "Finding"), el("th", {}, "Score"));
  for (const f of features) {
    const meta = feature(f);
    const th = el("th", { "data-feature": f }, meta.label);
    const unit = meta.choices ? "" : ` ${meta.unit}`;
    th.append(el("br"), el("span", { class: "entered" }, `${explanation.values[f]}${unit}`));
    if (view === "median") th.append(el("br"), el("span", { class: "muted" }, `median ${explanation.references.median[f]}`));
    head.append(th);
  }
  const thead = el("thead");
  thead.append(head);
  table.append(thead);
  const body = el("tbody");
  const largest = Math.max(1e-9, ...r.detections.flatMap((d) => features.map((f) => Math.abs(d.effects[view][f].effect))));
  r.detections.forEach((d, i) => {
    const row = el("tr", { "data-index": i, "data-score": d.score });
    row.append(el("td", {}, `${i + 1}`), el("td", {}, d.label), el("td", {}, fmt(d.score)));
    for (const f of features) {
      const e = d.effects[view][f];
      const kind = e.effect > 0 ? "up" : e.effect < 0 ? "down" : "zero";
      const cell = el("td", { class: `effect ${kind}`, "data-det": i, "data-feature": f, "data-view": view,
                              "data-effect": e.effect, "data-score": e.score,
                              style: `--share:${(100 * Math.abs(e.effect) / largest).toFixed(1)}%`,
                              title: `score ${fmt(d.score)} → ${fmt(e.score)} with ${feature(f).label} ` +
                                     (view === "missing" ? "left out" : "at the training median") },
                         signed(e.effect));
      row.append(cell);
    }
    body.append(row);
  });
  table.append(body);
  holder.append(table);
}

function colour(id) { return state.info.classes[id - 1].colour; }

function applyThreshold() {
  const threshold = parseFloat($("threshold").value);
  $("threshold-value").textContent = threshold.toFixed(2);
  let shown = 0;
  for (const row of document.querySelectorAll("tr[data-score]")) {
    row.hidden = parseFloat(row.dataset.score) < threshold;
    if (!row.hidden && row.closest("#detections")) shown += 1;
  }
  $("none").hidden = shown > 0;
  draw(threshold);
}

function draw(threshold) {
  const r = state.result, image = state.preview;
  if (!r || !image) return;
  const canvas = $("view"), ctx = canvas.getContext("2d");
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  ctx.drawImage(image, 0, 0);
  const sx = canvas.width / r.width, sy = canvas.height / r.height;
  const line = Math.max(2, Math.round(canvas.width / 300));
  ctx.font = `${Math.max(12, Math.round(canvas.width / 45))}px sans-serif`;
  ctx.textBaseline = "top";
  const placed = [];  // label rectangles drawn so far: a label that would cover one moves below its box
  const overlaps = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
  r.detections.forEach((d, i) => {
    if (d.score < threshold) return;
    const [x1, y1, x2, y2] = d.box.map((v, k) => v * (k % 2 ? sy : sx));
    ctx.strokeStyle = colour(d.category_id);
    ctx.lineWidth = line;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const text = `${i + 1} ${d.label} ${d.score.toFixed(2)}`;
    const w = ctx.measureText(text).width + 6, h = parseInt(ctx.font, 10) + 4;
    const spots = [{ x: x1, y: Math.max(0, y1 - h) }, { x: x1, y: Math.min(canvas.height - h, y2) },
                   { x: x1, y: y1 + line }];
    const spot = spots.find((p) => !placed.some((q) => overlaps({ ...p, w, h }, q))) || spots[0];
    placed.push({ ...spot, w, h });
    ctx.fillStyle = colour(d.category_id);
    ctx.fillRect(spot.x, spot.y, w, h);
    ctx.fillStyle = "#000";
    ctx.fillText(text, spot.x + 3, spot.y + 2);
  });
}

function showView() {
  const view = document.querySelector("input[name=view]:checked").value;
  for (const holder of document.querySelectorAll(".effects")) holder.hidden = holder.dataset.view !== view;
}

init().catch((err) => showMessage(`The page could not load the model description: ${err}`));
