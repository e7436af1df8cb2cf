// Drishya's web page: one workspace on the photo. Sign in, choose the ad photo, mark the old
// product (box, points, brush), choose the new product, place it on the canvas, adjust the
// look, download. Every change re-segments or re-renders by itself; undo and redo cover it all.

import * as api from "./api.js";
import { Editor } from "./canvas.js";
import { Mask } from "./mask.js";
import * as persist from "./persist.js";
import { ProductShape } from "./placement.js";
import { SettingsForm } from "./settings.js";
import { History, emptyDocument, promptKey } from "./state.js";
import { Viewport } from "./viewport.js";

const $ = (id) => document.getElementById(id);

const ACCEPTED_TYPES = new Map([["image/jpeg", "JPEG"], ["image/png", "PNG"], ["image/webp", "WebP"],
  ["image/gif", "GIF"], ["image/bmp", "BMP"], ["image/tiff", "TIFF"]]);
const ACCEPTED_EXTENSIONS = /\.(jpe?g|png|webp|gif|bmp|tiff?)$/i;
const SEGMENT_DELAY_MS = 0;    // a change asks at once; the next change cancels the request still running
const RENDER_DELAY_MS = 300;
const PREVIEW_OUTPUT = { format: "jpeg", quality: 88, size: "working" };
const EXTENSIONS = { jpeg: "jpg", png: "png", webp: "webp" };
const MIME = { jpeg: "image/jpeg", png: "image/png", webp: "image/webp" };
const TOUCH = matchMedia("(pointer: coarse)").matches;

const app = {
  schema: null,
  limits: { max_upload_mb: 32, max_pixels: 24_000_000, upload_ttl_s: 3600 },   // the server's, once read
  form: null,
  history: new History(emptyDocument({})),
  viewport: new Viewport(),
  editor: null,
  scene: null,          // { id, width, height, originalWidth, originalHeight, name, expiresAt, bitmap }
  product: null,        // { id, width, height, name, expiresAt, shape, url }
  masks: new Map(),     // prompt key → Mask from segmentation
  rendered: null,       // { key, answer, bitmap } on screen
  results: new Map(),   // render key → { answer, bitmap }, the last few (undo shows them at once)
  autoPlace: null,      // { cx, cy, k } of the server's automatic placement
  timers: {},
  jobs: new Map(),      // name → { label, controller, started }
  message: "",
  busySeconds: null,
  modelState: null,
  renders: 0,
};

// ---------- small helpers ----------

function show(id, visible) { $(id).hidden = !visible; }

function percent(fraction) {
  const p = fraction * 100;
  return `${p < 1 ? p.toFixed(1) : Math.round(p)} %`;
}

function stem(name) {
  const base = (name || "photo").replace(/\.[^.]+$/, "").replace(/[^A-Za-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "");
  return base || "photo";
}

function fieldError(id, message) {
  const node = $(id);
  node.textContent = message || "";
  node.hidden = !message;
}

function say(message) {
  app.message = message;
  renderStatus();
}

function reportError(fieldId, error) {
  if (error instanceof api.ApiError && (error.cancelled || error.status === 401)) return;
  const message = error instanceof api.ApiError ? plainError(error) : `Something went wrong: ${error.message || error}`;
  fieldError(fieldId, message);
  say(message);
}

function plainError(error) {
  if (error.gone) return "The server no longer has this photo (uploads are kept for a limited time). Choose the photo again to continue.";
  if (error.code === "payload_too_large") return `That file is too large: the limit is ${error.details?.max_upload_mb ?? app.limits.max_upload_mb} MB.`;
  let message = error.message || "The server refused this.";
  message = message.charAt(0).toUpperCase() + message.slice(1);
  return /[.!?]$/.test(message) ? message : `${message}.`;
}

function base64ToBlob(base64, mime) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return new Blob([bytes], { type: mime });
}

// ---------- jobs: every wait on the server, with the status line and Cancel ----------

function startJob(name, label) {
  cancelJob(name);
  const job = { label, controller: new AbortController(), started: performance.now() };
  app.jobs.set(name, job);
  renderStatus();
  if (!app.timers.ticker) app.timers.ticker = setInterval(tick, 1000);
  return job;
}

function endJob(name, job) {
  if (app.jobs.get(name) === job) app.jobs.delete(name);
  if (!app.jobs.size) { clearInterval(app.timers.ticker); app.timers.ticker = null; app.modelState = null; }
  renderStatus();
}

function cancelJob(name) {
  const job = app.jobs.get(name);
  if (job) { job.controller.abort(); app.jobs.delete(name); }
}

function cancelAll() {
  clearTimeout(app.timers.segment);
  clearTimeout(app.timers.render);
  app.segmentQueued = false;
  app.renderQueued = false;
  for (const name of [...app.jobs.keys()]) cancelJob(name);
  app.cancelled = true;
  say("Cancelled. Change something to try again.");
  refreshStale();
}

async function tick() {
  renderStatus();
  const mask = app.jobs.get("segment");
  if (mask && performance.now() - mask.started > 1500) {
    const health = await api.health();
    app.modelState = health?.model?.state ?? null;
    renderStatus();
  }
}

function renderStatus() {
  const jobs = [...app.jobs.values()];
  const job = jobs[jobs.length - 1];
  const spinner = document.querySelector("#status-bar .spinner");
  spinner.hidden = !job;
  show("cancel-button", Boolean(job));
  let text = app.message;
  if (job) {
    const seconds = Math.floor((performance.now() - job.started) / 1000);
    text = job.label + (seconds >= 2 ? ` ${seconds} s` : "");
    if (app.modelState === "loading" && app.jobs.has("segment")) text = `Getting the cut-out model ready… ${seconds} s`;
    if (app.busySeconds) text = `The server is busy; trying again in ${app.busySeconds} s…`;
  }
  $("status-text").textContent = text;
}

// ---------- the document and what follows from it ----------

function doc() { return app.history.current; }

function effectiveMask(d = doc()) {
  if (d.editedMask) return d.editedMask;
  const key = promptKey(d);
  return key ? app.masks.get(key) || null : null;
}

/** The layer the canvas shows: set by hand, else the server's automatic place. */
function effectiveLayer(d = doc()) {
  const place = d.layer || app.autoPlace;
  if (!place) return null;
  return { ...place, rotation: d.settings.rotation || 0, flip: Boolean(d.settings.flip) };
}

function requestSettings(d = doc()) {
  const settings = {};
  for (const spec of app.schema) {
    if (spec.name in d.settings) settings[spec.name] = d.settings[spec.name];
  }
  settings.placement = d.layer && app.product ? app.product.shape.placementBox(effectiveLayer(d)) : null;
  return settings;
}

/** The /process body of a replacement for the document, or null while something is missing. */
function replaceBody(d = doc()) {
  const mask = effectiveMask(d);
  if (!app.scene || !app.product || !mask || !mask.id) return null;
  return { image_id: app.scene.id, mask_id: mask.id, product_id: app.product.id, settings: requestSettings(d) };
}

function renderKey(body) {
  return body ? JSON.stringify(body) : null;
}

function onDocument(d, reason) {
  const editor = app.editor;
  const mask = effectiveMask(d);
  if (mask) {
    if (editor.mask && editor.mask !== mask && !isKept(editor.mask)) editor.mask.overlay = null;
    editor.mask = mask;
  } else if (!promptKey(d) && !d.editedMask) {
    editor.mask = null;
  }
  editor.layer = effectiveLayer(d);
  if (["undo", "redo", "reset", "restore"].includes(reason)) app.form?.setValues(d.settings, Boolean(d.layer));
  if (app.form) { app.form.placedByHand = Boolean(d.layer); app.form.refresh(); }
  const dragging = reason === "set";
  const key = promptKey(d);
  if (!d.editedMask && key && !app.masks.has(key) && !dragging) scheduleSegment();
  if (!dragging && d.editedMask && !d.editedMask.id && !d.editedMask.empty) saveEditedMask(d.editedMask);
  scheduleRender(dragging ? RENDER_DELAY_MS : app.renderDelay ?? 0);
  app.renderDelay = null;
  refreshPanels();
  editor.requestDraw();
  if (!dragging) saveWork();
}

function isKept(mask) {
  return mask === doc().editedMask;
}

// ---------- segmentation: box and points → mask ----------

function scheduleSegment() {
  clearTimeout(app.timers.segment);
  app.timers.segment = setTimeout(runSegment, SEGMENT_DELAY_MS);
  refreshStale();
}

async function runSegment() {
  const d = doc();
  const key = promptKey(d);
  if (!app.scene || !key || d.editedMask || app.masks.has(key)) { refreshStale(); return; }
  // One request at a time: a cancelled fetch does not stop the server's work, so aborting
  // and asking again would only queue up there. The newest prompt goes next.
  if (app.jobs.has("segment")) { app.segmentQueued = true; return; }
  const scene = app.scene;
  const job = startJob("segment", "Finding the product…");
  refreshStale();
  fieldError("mask-error", null);
  const body = { image_id: scene.id };
  if (d.box) body.box = d.box;
  if (d.points.length) {
    body.points = d.points.map((p) => [p.x, p.y]);
    body.labels = d.points.map((p) => p.label);
  }
  try {
    const answer = await api.processJson(body, job.controller.signal);
    const mask = await Mask.fromPngBase64(answer.mask_png_base64, scene.width, scene.height);
    if (app.scene !== scene) return;
    mask.id = answer.mask_id;
    mask.facts = answer;
    remember(app.masks, key, mask, 12);
    performance.mark("drishya:mask");
    app.editor.canvas.dataset.masks = String(Number(app.editor.canvas.dataset.masks || 0) + 1);
    say(maskCaption(mask));
    endJob("segment", job);
    onDocument(doc(), "mask");
  } catch (error) {
    endJob("segment", job);
    if (error instanceof api.ApiError && error.gone) { expired(); return; }
    reportError("mask-error", error);
    refreshStale();
  } finally {
    if (app.segmentQueued && !app.jobs.has("segment")) { app.segmentQueued = false; scheduleSegment(); }
  }
}

function remember(map, key, value, limit) {
  map.delete(key);
  map.set(key, value);
  while (map.size > limit) {
    const oldest = map.keys().next().value;
    const old = map.get(oldest);
    if (old && old.overlay && old !== app.editor.mask) old.overlay = null;
    if (old && old.bitmap && old.bitmap !== app.editor.result) old.bitmap.close?.();
    map.delete(oldest);
  }
}

/** Stores a mask the person painted; its id then stands for it in replacements. */
async function saveEditedMask(mask) {
  if (mask.saving) return mask.saving;
  if (mask.isEmpty()) { mask.empty = true; refreshPanels(); return null; }
  const scene = app.scene;
  mask.saving = (async () => {
    const job = startJob("save-mask", "Saving your cut-out…");
    try {
      const png = await mask.toPngBase64();
      const answer = await api.processJson({ image_id: scene.id, mask_png_base64: png }, job.controller.signal);
      mask.id = answer.mask_id;
      mask.facts = answer;
      endJob("save-mask", job);
      if (app.scene === scene) onDocument(doc(), "mask");
    } catch (error) {
      endJob("save-mask", job);
      mask.saving = null;
      if (error instanceof api.ApiError && error.gone) { expired(); return; }
      reportError("mask-error", error);
    }
  })();
  return mask.saving;
}

// ---------- rendering: mask + product + settings → result ----------

function scheduleRender(delay) {
  clearTimeout(app.timers.render);
  const body = replaceBody();
  const key = renderKey(body);
  if (!body) { refreshStale(); return; }
  if (app.rendered && app.rendered.key === key) { cancelJob("render"); showResult(app.rendered); refreshStale(); return; }
  const cached = app.results.get(key);
  if (cached) { cancelJob("render"); showResult(cached); refreshStale(); return; }
  if (app.jobs.get("render")?.key === key) return;
  app.cancelled = false;
  app.timers.render = setTimeout(runRender, delay);
  refreshStale();
}

async function runRender() {
  const body = replaceBody();
  if (!body) return;
  const key = renderKey(body);
  if (app.jobs.has("render")) { app.renderQueued = true; refreshStale(); return; }
  const job = startJob("render", app.rendered ? "Updating the result…" : "Putting the new product in…");
  job.key = key;
  refreshStale();
  fieldError("product-error", null);
  const scene = app.scene;
  try {
    const answer = await api.processJson({ ...body, output: PREVIEW_OUTPUT }, job.controller.signal);
    const bitmap = await createImageBitmap(base64ToBlob(answer.image_base64, MIME[answer.format] || "image/jpeg"));
    if (app.scene !== scene) return;
    const result = { key, answer, bitmap, placed: body.settings.placement !== null, settings: body.settings };
    remember(app.results, key, result, 8);
    endJob("render", job);
    showResult(result);
    performance.mark("drishya:result");
    app.renders += 1;
    app.editor.canvas.dataset.renders = String(app.renders);
    if (app.firstResult !== scene) {
      app.firstResult = scene;
      setTool("product");
    }
    say(resultCaption(answer));
  } catch (error) {
    endJob("render", job);
    if (error instanceof api.ApiError && error.gone) { expired(); return; }
    reportError("product-error", error);
  } finally {
    refreshStale();
    if (app.renderQueued && !app.jobs.has("render")) { app.renderQueued = false; scheduleRender(0); }
  }
}

function outputScale(answer) {
  if (typeof answer.scale === "number" && answer.scale > 0) return answer.scale;
  return app.scene ? answer.width / app.scene.width : 1;
}

function showResult(result) {
  app.rendered = result;
  const { answer } = result;
  app.editor.result = result.bitmap;
  if (!result.placed && answer.placement && app.product) {
    const s = outputScale(answer);
    const box = answer.placement.box.map((v) => v / s);
    const shape = app.product.shape;
    if (answer.placement.rotation === 0 && answer.cutout && answer.cutout !== "alpha" && answer.placement.scale) {
      // the server cut a plain backdrop away: take the size of what it kept as the product's box
      const ratio = shape.width / (app.product.width || shape.width);
      shape.adoptServerSize(((answer.placement.box[2] - answer.placement.box[0]) / answer.placement.scale) * ratio,
        ((answer.placement.box[3] - answer.placement.box[1]) / answer.placement.scale) * ratio);
    }
    const layer = shape.layerFor(box, answer.placement.rotation || 0, Boolean(answer.placement.flipped));
    app.autoPlace = { cx: layer.cx, cy: layer.cy, k: layer.k };
  }
  app.editor.layer = effectiveLayer();
  refreshPanels();
  refreshStale();
  app.editor.requestDraw();
}

function refreshStale() {
  const body = replaceBody();
  const key = renderKey(body);
  const stale = Boolean(app.rendered) && key !== null && app.rendered.key !== key;
  const rendering = app.jobs.has("render");
  const editor = app.editor;
  editor.ghost = Boolean(app.product) && (stale || !app.rendered);
  let text = null;
  if (app.jobs.has("segment")) text = "Finding the product…";
  else if (app.jobs.has("save-mask")) text = "Saving your cut-out…";
  else if (rendering) text = app.rendered ? "Updating the result…" : "Putting the new product in…";
  else if (stale && editor.tool === "product") text = app.cancelled ? "Out of date — change something to update" : "Out of date";
  show("stale-badge", Boolean(text));
  $("stale-text").textContent = text || "";
  $("stage").classList.toggle("stale", stale && editor.tool === "product");
  $("stage").dataset.stale = String(stale);
  editor.requestDraw();
}

// ---------- panels and captions ----------

function maskCaption(mask) {
  if (!mask) return "";
  const share = percent(mask.facts?.area_fraction ?? mask.areaFraction());
  const fix = TOUCH ? "Looks wrong? Tap to add points or use the brush." : "Looks wrong? Add points or use the brush.";
  if (mask.edited) return `Your cut-out — ${share} of the photo.`;
  return `Cut-out ready — ${share} of the photo. ${fix}`;
}

function resultCaption(answer) {
  const next = "Download it, or keep adjusting: the result updates by itself.";
  return answer.warnings?.length ? `The new product is in — please check the notes below. ${next}` : `The new product is in. ${next}`;
}

function listWarnings(id, warnings) {
  const list = $(id);
  list.replaceChildren(...(warnings || []).map((w) => {
    const item = document.createElement("li");
    item.textContent = w.message;
    item.dataset.code = w.code;
    return item;
  }));
}

const TOOL_HINTS = {
  box: TOUCH ? "Drag a box around the old product with your finger; drag its handles to adjust it. Long-press adds a point."
    : "Drag a box around the old product; drag its handles to adjust it, or inside it to move it. Shift-click adds a point on the product, Alt-click one outside it.",
  points: TOUCH ? "Tap the product to add a point; tap a point to remove it."
    : "Click to add a point; click a point to remove it.",
  brush: TOUCH ? "Paint with your finger where the cut-out misses the product, or switch to Erases."
    : "Paint where the cut-out misses the product, or switch to Erases to take away too much.",
  product: TOUCH ? "Drag the product to move it, a corner to resize it, the round handle to turn it."
    : "Drag the product to move it, a corner to resize it, the round handle to turn it (Shift: 15° steps).",
};

/** On a narrow screen the stage is as tall as the photo needs (at most 58 % of the screen). */
function fitStage() {
  const stage = $("stage");
  const narrow = matchMedia("(max-width: 760px)").matches;
  app.viewport.insetBottom = narrow ? 52 : 0;
  if (!app.scene || !narrow) { stage.style.height = ""; return; }
  const width = stage.clientWidth || window.innerWidth;
  const wanted = (width - 24) * (app.scene.height / app.scene.width) + app.viewport.insetTop + app.viewport.insetBottom;
  stage.style.height = `${Math.round(Math.min(window.innerHeight * 0.58, Math.max(288, wanted)))}px`;
}

function refreshPanels() {
  const d = doc();
  const hasScene = Boolean(app.scene);
  fitStage();
  show("empty-state", !hasScene);
  show("stage-tools", hasScene);
  show("toolbar", hasScene);
  show("mark-card", hasScene);
  show("product-card", hasScene);
  show("history-actions", true);
  show("scene-choose-again", hasScene);
  $("undo-button").disabled = !app.history.canUndo();
  $("redo-button").disabled = !app.history.canRedo();
  const mask = effectiveMask(d);
  const tool = app.editor.tool;
  show("points-options", tool === "points");
  show("brush-options", tool === "brush");
  $("tool-hint").textContent = hasScene && tool !== "product" ? TOOL_HINTS[tool] : "";
  $("placement-hint").textContent = TOOL_HINTS.product;
  show("placement-hint", Boolean(app.rendered) && tool === "product");
  let caption = "";
  if (!hasScene) caption = "";
  else if (mask && mask.empty) caption = "Nothing is marked. Paint over the product, or draw a box around it.";
  else if (mask) caption = maskCaption(mask);
  else if (promptKey(d)) caption = "Finding the product…";
  else caption = TOUCH ? "Drag a box around the product you want to replace." : "Drag a box around the product you want to replace.";
  $("mask-caption").textContent = caption;
  listWarnings("mask-warnings", mask && !mask.edited ? mask.facts?.warnings : []);
  $("grow-button").disabled = !mask;
  $("shrink-button").disabled = !mask;

  const hasProduct = Boolean(app.product);
  show("tool-product-label", hasProduct);
  show("placement-controls", hasProduct);
  show("settings-card", hasProduct);
  $("flip-button").setAttribute("aria-pressed", String(Boolean(d.settings.flip)));
  if (document.activeElement !== $("rotation-input")) $("rotation-input").value = String(Math.round(d.settings.rotation || 0));
  $("reset-placement").disabled = !d.layer && !d.settings.rotation && !d.settings.flip;

  const result = app.rendered;
  show("result-card", Boolean(result));
  show("top-download", Boolean(result));
  show("top-download-size", Boolean(result));
  $("top-download").disabled = !result || !replaceBody() || app.jobs.has("download");
  show("compare-button", Boolean(result) && tool === "product");
  if (result) {
    $("result-caption").textContent = resultCaption(result.answer);
    listWarnings("result-warnings", result.answer.warnings);
    $("download-button").disabled = !replaceBody();
    refreshDownloadSize();
  }
  refreshQuality();
  refreshDetails();
  $("zoom-level").textContent = `${app.viewport.percent()} %`;
  $("editor-canvas").setAttribute("aria-label", canvasLabel());
}

function canvasLabel() {
  if (!app.scene) return "The photo. Choose a photo to start.";
  const tool = app.editor.tool;
  if (tool === "product" && app.rendered) return "The result with the new product. Drag it to move it.";
  return `The photo. ${TOOL_HINTS[tool]}`;
}

function fullSize() {
  const answer = app.rendered?.answer;
  const scene = app.scene;
  if (app.downloaded) return app.downloaded;
  if (answer && answer.working_width && scene.originalWidth) return [scene.originalWidth, scene.originalHeight];
  return [scene.width, scene.height];
}

function refreshDownloadSize() {
  if (!app.scene) return;
  const [w, h] = fullSize();
  const format = $("download-format").value;
  $("top-download-size").textContent = `${w} × ${h} px ${format === "jpeg" ? "JPEG" : format.toUpperCase()}`;
  $("download-size").textContent = `${w} × ${h} px ${format === "jpeg" ? "JPEG" : format.toUpperCase()}` +
    (app.downloadBytes ? ` · last file ${(app.downloadBytes / 1048576).toFixed(1)} MB` : "");
}

function refreshQuality() {
  const lossy = $("download-format").value !== "png";
  show("download-quality", lossy);
  show("quality-label", lossy);
}

function refreshDetails() {
  const rows = [];
  const mask = effectiveMask();
  if (mask?.facts) {
    const f = mask.facts;
    rows.push(["Cut-out made by", f.segmenter === "edited" ? "your edit" : f.segmenter]);
    if (typeof f.score === "number") rows.push(["Confidence", f.score.toFixed(2)]);
    if (f.bbox) rows.push(["Cut-out box", f.bbox.join(", ")]);
    if (f.timings_ms) rows.push(["Cut-out time", timings(f.timings_ms)]);
    if (f.fallback_reason) rows.push(["Fallback", f.fallback_reason]);
  }
  const answer = app.rendered?.answer;
  if (answer) {
    rows.push(["Preview size", `${answer.width} × ${answer.height} px`]);
    if (answer.placement) rows.push(["Product box", `${answer.placement.box.join(", ")} (${answer.placement.anchor})`]);
    rows.push(["Product background", answer.cutout], ["Blending", answer.blend_mode], ["Edge softness", `${answer.feather} px`]);
    if (answer.timings_ms) rows.push(["Render time", timings(answer.timings_ms)]);
  }
  if (app.scene) rows.push(["Photo", `${app.scene.originalWidth} × ${app.scene.originalHeight} px (edited at ${app.scene.width} × ${app.scene.height})`]);
  $("details-list").replaceChildren(...rows.flatMap(([term, value]) => {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = String(value);
    return [dt, dd];
  }));
}

function timings(ms) {
  return Object.entries(ms).map(([stage, v]) => `${stage.replace(/_/g, " ")} ${Math.round(v)} ms`).join(", ");
}

// ---------- tools ----------

function setTool(tool) {
  const input = document.querySelector(`input[name="tool"][value="${tool}"]`);
  if (input) input.checked = true;
  app.editor.tool = tool;
  app.editor.hover = null;
  refreshPanels();
  refreshStale();
  app.editor.requestDraw();
}

// ---------- files: checks before upload ----------

function checkFile(file) {
  const known = ACCEPTED_TYPES.has(file.type) || (!file.type && ACCEPTED_EXTENSIONS.test(file.name));
  if (!known) {
    return `“${file.name}” is not a photo this page accepts. Use JPEG, PNG, WebP, GIF, BMP or TIFF.`;
  }
  const maxMb = app.limits.max_upload_mb;
  if (file.size > maxMb * 1048576) {
    return `“${file.name}” is ${(file.size / 1048576).toFixed(1)} MB; the limit is ${maxMb} MB. Save it smaller (e.g. as JPEG) and try again.`;
  }
  return null;
}

async function decodeLocally(file) {
  try {
    return await createImageBitmap(file);
  } catch {
    const kind = file.type === "image/tiff" ? "TIFF photos" : "this file";
    throw new Error(`this browser cannot show ${kind}; save it as JPEG or PNG and try again`);
  }
}

function describeDuration(seconds) {
  if (seconds % 3600 === 0) return seconds === 3600 ? "an hour" : `${seconds / 3600} hours`;
  return seconds >= 120 ? `${Math.round(seconds / 60)} minutes` : `${seconds} seconds`;
}

function tooManyPixels(bitmap) {
  if (bitmap.width * bitmap.height <= app.limits.max_pixels) return null;
  const mp = (bitmap.width * bitmap.height) / 1e6;
  const limit = app.limits.max_pixels / 1e6;
  return `The photo has ${mp.toFixed(1)} megapixels (${bitmap.width} × ${bitmap.height}); the limit is ${limit}. Make it smaller and try again.`;
}

async function chooseScene(file, { restoring = null } = {}) {
  if (!file) return;
  fieldError("scene-error", null);
  const problem = checkFile(file);
  if (problem) { fieldError("scene-error", problem); say(problem); return; }
  const job = startJob("upload-scene", "Uploading the photo…");
  try {
    const local = await decodeLocally(file);
    const tooBig = tooManyPixels(local);
    local.close();
    if (tooBig) throw new Error(tooBig);
    const stored = restoring || await api.upload(file, "scene", job.controller.signal);
    const bitmap = await createImageBitmap(file, { resizeWidth: stored.width, resizeHeight: stored.height, resizeQuality: "high" });
    endJob("upload-scene", job);
    cancelJob("segment");
    cancelJob("render");
    cancelJob("save-mask");
    app.scene = { id: stored.image_id, width: stored.width, height: stored.height,
      originalWidth: stored.original_width || stored.width, originalHeight: stored.original_height || stored.height,
      name: file.name || "photo", expiresAt: stored.expires_at, bitmap };
    app.masks.clear();
    app.results.clear();
    app.rendered = null;
    app.autoPlace = null;
    app.downloaded = null;
    app.downloadBytes = null;
    app.editor.setScene(bitmap, stored.width, stored.height);
    $("scene-info").textContent = sceneInfo(app.scene);
    if (!restoring) {
      persist.storeFile("scene", file);
      setTool("box");
      app.history.reset(emptyDocument({ ...doc().settings }));
      say(TOUCH ? "Photo ready. Drag a box around the product you want to replace."
        : "Photo ready. Drag a box around the product you want to replace.");
      app.editor.canvas.focus({ preventScroll: true });
    }
  } catch (error) {
    endJob("upload-scene", job);
    if (restoring) throw error;
    reportError("scene-error", error);
  }
}

function sceneInfo(scene) {
  const size = scene.originalWidth !== scene.width
    ? `${scene.originalWidth} × ${scene.originalHeight} px (you edit a ${scene.width} × ${scene.height} copy; the download is full size)`
    : `${scene.width} × ${scene.height} px`;
  return `${scene.name} · ${size}`;
}

async function chooseProduct(file, { restoring = null } = {}) {
  if (!file) return;
  fieldError("product-error", null);
  const problem = checkFile(file);
  const keep = app.product ? ` The product in use is still “${app.product.name}”.` : "";
  if (problem) { fieldError("product-error", problem + keep); say(problem); return; }
  const job = startJob("upload-product", "Uploading the product…");
  try {
    const local = await decodeLocally(file);
    const tooBig = tooManyPixels(local);
    if (tooBig) { local.close(); throw new Error(tooBig); }
    const stored = restoring || await api.upload(file, "product", job.controller.signal);
    endJob("upload-product", job);
    if (app.product) URL.revokeObjectURL(app.product.url);
    app.product = { id: stored.image_id, width: stored.width, height: stored.height, name: file.name || "product",
      expiresAt: stored.expires_at, shape: new ProductShape(local), url: URL.createObjectURL(file) };
    app.editor.shape = app.product.shape;
    app.autoPlace = null;
    app.rendered = null;
    app.results.clear();
    app.firstResult = null;
    $("product-thumb").src = app.product.url;
    show("product-thumb", true);
    $("product-info").textContent = `${app.product.name} · ${stored.width} × ${stored.height} px`;
    $("product-choose").textContent = "Choose another product…";
    if (!restoring) {
      persist.storeFile("product", file);
      if (doc().layer) app.history.update({ layer: null });
      else onDocument(doc(), "product");
    }
  } catch (error) {
    endJob("upload-product", job);
    if (restoring) throw error;
    if (error instanceof api.ApiError && (error.cancelled || error.status === 401)) return;
    const message = (error instanceof api.ApiError ? plainError(error) : `This file was not accepted: ${error.message}.`) + keep;
    fieldError("product-error", message);
    say(message);
  }
}

// ---------- download ----------

async function download() {
  const body = replaceBody();
  if (!body) return;
  fieldError("download-error", null);
  const format = $("download-format").value;
  const quality = Math.min(100, Math.max(1, Math.round($("download-quality").valueAsNumber || 92)));
  const job = startJob("download", "Making the full-size image…");
  $("download-button").disabled = true;
  try {
    const { blob } = await api.processRaw({ ...body, output: { format, quality, size: "original" } }, job.controller.signal);
    const bitmap = await createImageBitmap(blob);
    const size = [bitmap.width, bitmap.height];
    bitmap.close();
    const name = `${stem(app.scene.name)}-drishya-${size[0]}x${size[1]}.${EXTENSIONS[format]}`;
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    app.downloaded = size;
    app.downloadBytes = blob.size;
    endJob("download", job);
    say(`Downloaded ${name} (${(blob.size / 1048576).toFixed(1)} MB).`);
  } catch (error) {
    endJob("download", job);
    reportError("download-error", error);
  } finally {
    $("download-button").disabled = !replaceBody();
    refreshDownloadSize();
  }
}

// ---------- surviving a reload ----------

function saveWork() {
  if (!app.scene) { persist.storeWork(null); return; }
  const d = doc();
  const mask = effectiveMask(d);
  persist.storeWork({
    scene: { image_id: app.scene.id, width: app.scene.width, height: app.scene.height,
      original_width: app.scene.originalWidth, original_height: app.scene.originalHeight,
      name: app.scene.name, expires_at: app.scene.expiresAt },
    product: app.product ? { image_id: app.product.id, width: app.product.width, height: app.product.height,
      name: app.product.name, expires_at: app.product.expiresAt } : null,
    doc: { box: d.box, points: d.points, layer: d.layer, settings: d.settings,
      maskId: mask?.id ?? null, maskEdited: Boolean(mask?.edited) },
    tool: app.editor.tool,
  });
}

function fileFrom(blob, name) {
  return blob instanceof File ? blob : new File([blob], name, { type: blob.type });
}

async function restore() {
  const work = persist.readWork();
  if (!work || !work.scene) return;
  const expiredAt = Date.parse(work.scene.expires_at || "");
  if (Number.isFinite(expiredAt) && expiredAt < Date.now()) { expired(); return; }
  const sceneBlob = await persist.readFile("scene");
  if (!sceneBlob) { forget("Your earlier photo could not be restored in this browser. Choose it again to continue."); return; }
  const job = startJob("restore", "Restoring your work…");
  try {
    await chooseScene(fileFrom(sceneBlob, work.scene.name), { restoring: work.scene });
    const saved = work.doc || {};
    const settings = { ...app.form.defaults(), ...(saved.settings || {}) };
    const restored = { box: saved.box || null, points: saved.points || [], editedMask: null, layer: saved.layer || null, settings };
    if (saved.maskId) {
      const answer = await api.processJson({ image_id: app.scene.id, mask_id: saved.maskId }, job.controller.signal);
      const mask = await Mask.fromPngBase64(answer.mask_png_base64, app.scene.width, app.scene.height);
      mask.id = answer.mask_id;
      mask.facts = answer;
      if (saved.maskEdited) { mask.edited = true; restored.editedMask = mask; } else {
        const key = promptKey(restored);
        if (key) app.masks.set(key, mask);
      }
    }
    if (work.product) {
      const productBlob = await persist.readFile("product");
      if (productBlob) await chooseProduct(fileFrom(productBlob, work.product.name), { restoring: work.product });
    }
    endJob("restore", job);
    app.history.reset(restored);
    app.form.setValues(settings, Boolean(restored.layer));
    onDocument(doc(), "restore");
    setTool(work.tool && (work.tool !== "product" || app.product) ? work.tool : "box");
    app.firstResult = app.scene;
    document.body.dataset.restored = "true";
    say("Your work is restored.");
  } catch (error) {
    endJob("restore", job);
    if (error instanceof api.ApiError && error.gone) { expired(); return; }
    if (error instanceof api.ApiError && error.cancelled) { forget("Restoring was cancelled. Choose a photo to start."); return; }
    forget(`Your earlier work could not be restored: ${error.message}`);
  }
}

function forget(message) {
  persist.storeWork(null);
  persist.forgetFiles();
  app.scene = null;
  app.product = null;
  app.rendered = null;
  app.masks.clear();
  app.results.clear();
  app.editor.setScene(null, 0, 0);
  app.editor.shape = null;
  show("product-thumb", false);
  $("product-info").textContent = "A PNG with a transparent background works best.";
  $("product-choose").textContent = "Choose product…";
  $("scene-info").textContent = "Choose the ad photo in which a product should be replaced.";
  app.history.reset(emptyDocument({ ...app.form.defaults() }));
  fieldError("scene-error", message);
  say(message);
}

function expired() {
  cancelAll();
  forget("Your earlier work has expired on the server (photos are kept for a limited time). Choose the photo again to continue.");
}

// ---------- brush, grow and shrink ----------

function brushBegin() {
  if (!app.scene) return null;
  const base = effectiveMask();
  if (base) return base.editable();
  return new Mask(app.scene.width, app.scene.height, new Uint8Array(app.scene.width * app.scene.height), { edited: true });
}

function brushEnd(mask, aborted = false) {
  if (aborted) { app.editor.mask = effectiveMask(); app.editor.requestDraw(); return; }
  fieldError("mask-error", null);
  app.history.update({ editedMask: mask }, "brush");
}

function growMask(sign) {
  const base = effectiveMask();
  if (!base) return;
  const px = Math.max(1, Math.min(50, Math.round($("grow-px").valueAsNumber || 3)));
  app.history.update({ editedMask: base.grown(sign * px) }, "grow");
}

// ---------- sign in ----------

function showLogin(message) {
  show("app-section", false);
  show("history-actions", false);
  show("login-section", true);
  fieldError("login-error", message || null);
  $("password-input").value = "";
  $("password-input").focus();
}

async function showApp() {
  show("login-section", false);
  show("app-section", true);
  show("history-actions", true);
  app.editor.resize();
  refreshPanels();
  await restore();
}

function signOut(message) {
  cancelAll();
  api.session.password = null;
  persist.storePassword(null);
  showLogin(message);
}

async function onLogin(event) {
  event.preventDefault();
  const password = $("password-input").value;
  if (!password) { showLogin("Enter the password."); return; }
  $("login-button").disabled = true;
  const problem = await api.checkPassword(password);
  $("login-button").disabled = false;
  if (problem) { showLogin(problem); return; }
  api.session.password = password;
  persist.storePassword(password);
  await showApp();
}

// ---------- wiring ----------

function wireDrop(zone, onFile) {
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("dragover"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragover"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("dragover");
    onFile(e.dataTransfer?.files?.[0]);
  });
}

function isTyping(target) {
  return target instanceof HTMLElement && (["TEXTAREA", "SELECT"].includes(target.tagName) ||
    (target.tagName === "INPUT" && !["range", "checkbox", "radio", "button", "file"].includes(target.type)));
}

function onKey(e) {
  if (isTyping(e.target) || $("app-section").hidden) return;
  const mod = e.ctrlKey || e.metaKey;
  const key = e.key.toLowerCase();
  if (mod && key === "z") { e.preventDefault(); if (e.shiftKey) app.history.redo(); else app.history.undo(); return; }
  if (mod && key === "y") { e.preventDefault(); app.history.redo(); return; }
  if (mod || e.altKey || !app.scene) return;
  const tools = { b: "box", p: "points", r: "brush", v: "product" };
  if (tools[key] && (tools[key] !== "product" || app.product)) setTool(tools[key]);
  else if (e.key === "+" || e.key === "=") app.viewport.zoomAt(1.25);
  else if (e.key === "-") app.viewport.zoomAt(0.8);
  else if (e.key === "0") app.viewport.fit();
  else return;
  e.preventDefault();
}

function wire() {
  $("login-form").addEventListener("submit", onLogin);
  $("logout-button").addEventListener("click", () => signOut("Signed out."));
  $("cancel-button").addEventListener("click", cancelAll);
  $("undo-button").addEventListener("click", () => app.history.undo());
  $("redo-button").addEventListener("click", () => app.history.redo());
  $("scene-input").addEventListener("change", (e) => { chooseScene(e.target.files[0]); e.target.value = ""; });
  $("product-input").addEventListener("change", (e) => { chooseProduct(e.target.files[0]); e.target.value = ""; });
  wireDrop($("stage"), (file) => (app.scene && app.editor.tool === "product" ? chooseProduct(file) : chooseScene(file)));
  wireDrop($("product-card"), chooseProduct);
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
  for (const input of document.querySelectorAll('input[name="tool"]')) {
    input.addEventListener("change", () => setTool(input.value));
  }
  for (const input of document.querySelectorAll('input[name="point-label"]')) {
    input.addEventListener("change", () => { app.editor.pointLabel = Number(input.value); });
  }
  for (const input of document.querySelectorAll('input[name="brush-mode"]')) {
    input.addEventListener("change", () => { app.editor.brushMode = input.value; });
  }
  $("brush-size").addEventListener("input", () => {
    app.editor.brushSize = $("brush-size").valueAsNumber;
    $("brush-size-value").textContent = `${app.editor.brushSize} px`;
  });
  $("grow-button").addEventListener("click", () => growMask(1));
  $("shrink-button").addEventListener("click", () => growMask(-1));
  $("zoom-in").addEventListener("click", () => app.viewport.zoomAt(1.25));
  $("zoom-out").addEventListener("click", () => app.viewport.zoomAt(0.8));
  $("zoom-fit").addEventListener("click", () => app.viewport.fit());
  const compare = $("compare-button");
  const hold = (on) => (e) => {
    if (e.type === "keydown" && e.key !== " " && e.key !== "Enter") return;
    if (e.type === "keydown" && e.repeat) return;
    if (on && e.pointerId !== undefined) compare.setPointerCapture(e.pointerId);
    app.editor.comparing = on;
    compare.setAttribute("aria-pressed", String(on));
    app.editor.requestDraw();
  };
  compare.addEventListener("pointerdown", hold(true));
  for (const type of ["pointerup", "pointerleave", "pointercancel", "blur"]) compare.addEventListener(type, hold(false));
  compare.addEventListener("keydown", hold(true));
  compare.addEventListener("keyup", hold(false));
  $("flip-button").addEventListener("click", () => {
    app.renderDelay = 0;
    app.history.update({ settings: { ...doc().settings, flip: !doc().settings.flip } });
  });
  $("rotation-input").addEventListener("change", () => {
    const value = Math.max(-180, Math.min(180, Math.round($("rotation-input").valueAsNumber || 0)));
    app.history.update({ settings: { ...doc().settings, rotation: value } });
  });
  $("reset-placement").addEventListener("click", () => {
    app.history.update({ layer: null, settings: { ...doc().settings, rotation: 0, flip: false } });
  });
  $("reset-settings").addEventListener("click", () => {
    const defaults = app.form.defaults();
    const keep = { rotation: doc().settings.rotation, flip: doc().settings.flip, placement: null };
    app.history.update({ settings: { ...defaults, ...keep } }, "reset-settings");
    app.form.setValues(doc().settings, Boolean(doc().layer));
  });
  $("download-button").addEventListener("click", download);
  $("top-download").addEventListener("click", download);
  $("download-format").addEventListener("change", () => { refreshQuality(); refreshDownloadSize(); });
  window.addEventListener("keydown", onKey);
  api.session.onUnauthorized = () => signOut("Your password was not accepted. Please sign in again.");
  api.session.onBusy = (seconds) => { app.busySeconds = seconds; renderStatus(); };
}

function editorHooks() {
  return {
    doc,
    boxChanged(box, final) {
      const patch = { box, editedMask: null };
      if (final) app.history.update(patch, "box"); else app.history.set(patch);
    },
    pointAdded(point) {
      const p = { x: Math.round(point.x), y: Math.round(point.y), label: point.label };
      app.history.update({ points: [...doc().points, p], editedMask: null }, "point");
    },
    pointRemoved(index) {
      app.history.update({ points: doc().points.filter((_, i) => i !== index), editedMask: null }, "point");
    },
    brushBegin,
    brushEnd,
    layerChanged(layer, final) {
      const patch = { layer: { cx: layer.cx, cy: layer.cy, k: layer.k },
        settings: { ...doc().settings, rotation: layer.rotation, flip: layer.flip } };
      if (final) { app.renderDelay = 0; app.history.update(patch, "layer"); } else app.history.set(patch);
    },
    viewChanged() { $("zoom-level").textContent = `${app.viewport.percent()} %`; },
    cancelGesture() { app.history.revert(); },
  };
}

async function start() {
  app.viewport.insetTop = 56;   // the floating toolbar
  app.editor = new Editor($("editor-canvas"), app.viewport, editorHooks());
  window.drishya = app;   // for the browser tests and the bench: read-only use
  wire();
  try {
    const published = await api.settingsSchema();
    app.schema = published.settings;
    app.limits = { ...app.limits, ...published.limits };
    $("scene-limits").textContent = `JPEG, PNG, WebP, GIF or BMP, up to ${app.limits.max_upload_mb} MB and `
      + `${app.limits.max_pixels / 1e6} megapixels; kept for ${describeDuration(app.limits.upload_ttl_s)}.`;
  } catch (error) {
    say(`The page could not load its settings from the server: ${error.message}. Reload to try again.`);
    return;
  }
  app.form = new SettingsForm(app.schema, $("settings-form"), $("advanced-form"), (values, final) => {
    const patch = { settings: { ...doc().settings, ...values } };
    if (final) { app.renderDelay = 0; app.history.update(patch, "settings"); } else app.history.set(patch);
  });
  app.history.reset(emptyDocument(app.form.defaults()));
  app.form.setValues(doc().settings, false);
  app.history.subscribe(onDocument);
  if (TOUCH) document.body.classList.add("touch");
  const saved = persist.readPassword();
  if (!saved) { showLogin(); return; }
  const problem = await api.checkPassword(saved);
  if (problem) { persist.storePassword(null); showLogin(problem === "Wrong password." ? null : problem); return; }
  api.session.password = saved;
  await showApp();
}

start();
