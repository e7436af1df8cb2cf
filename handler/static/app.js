// Drishya web page: sign in, mark the old product, cut it out, put a new product in its place.
// Talks only to the function's own endpoints (/health, /upload, /process). No framework, no build step.
"use strict";

(() => {
  const PASSWORD_KEY = "drishya.password";
  const HEALTH_POLL_MS = 1000;
  const MAX_BUSY_RETRIES = 5;
  const MIN_BOX_SIDE_PX = 4; // a shorter drag is a slip of the mouse, not a box
  const WARMING_STATES = new Set(["loading", "downloading"]);
  const MIME_BY_FORMAT = { png: "image/png", jpeg: "image/jpeg", webp: "image/webp" };
  const EXTENSION_BY_FORMAT = { png: "png", jpeg: "jpg", webp: "webp" };

  // Every setting the server understands: one entry draws one labelled control.
  // `group` says where the value goes in the /process request: "settings" (default), "output",
  // or "offset" (packed into settings.offset as [dx, dy]).
  const SETTINGS = [
    { key: "scale", label: "Scale", type: "range", min: 0.5, max: 2, step: 0.05, value: 1, digits: 2,
      help: "Size of the new product relative to the old one." },
    { key: "feather", label: "Feather", type: "range", min: 0, max: 30, step: 1, value: 15, unit: " px",
      help: "Softness of the product's edge." },
    { key: "color_grading", label: "Colour grading", type: "checkbox", value: true,
      help: "Match the product's colours to the scene." },
    { key: "color_strength", label: "Colour strength", type: "range", min: 0, max: 1, step: 0.05, value: 0.5,
      digits: 2, dependsOn: "color_grading", help: "How strongly colours are matched." },
    { key: "grading_target", label: "Grade towards", type: "select", value: "surroundings", dependsOn: "color_grading",
      options: [["surroundings", "Surroundings"], ["area", "Old product's area"], ["image", "Whole image"]],
      help: "Which part of the scene the colours are matched to." },
    { key: "cutout", label: "Product background", type: "select", value: "auto",
      options: [["auto", "Auto"], ["alpha", "Use transparency"], ["none", "Keep as is"]],
      help: "How the new product is separated from its own background." },
    { key: "remove_old", label: "Remove the old product", type: "checkbox", value: true,
      help: "Fill in the background behind the old product first." },
    { key: "anchor", label: "Anchor", type: "select", value: "bottom",
      options: [["bottom", "Bottom"], ["center", "Centre"]],
      help: "Bottom: the new product stands where the old one stood. Centre: centred on the old one." },
    { key: "dx", label: "Offset x", type: "number", min: -2000, max: 2000, step: 1, value: 0, unit: " px", group: "offset",
      help: "Move the product right (negative: left)." },
    { key: "dy", label: "Offset y", type: "number", min: -2000, max: 2000, step: 1, value: 0, unit: " px", group: "offset",
      help: "Move the product down (negative: up)." },
    { key: "blend_mode", label: "Blending", type: "select", value: "alpha",
      options: [["alpha", "Alpha"], ["seamless", "Seamless"], ["auto", "Auto"]],
      help: "How the product is blended into the scene." },
    { key: "shadow", label: "Shadow", type: "range", min: 0, max: 1, step: 0.05, value: 0, digits: 2,
      help: "Strength of a soft contact shadow under the product." },
    { key: "format", label: "Output format", type: "select", value: "png", group: "output",
      options: [["png", "PNG"], ["jpeg", "JPEG"], ["webp", "WebP"]],
      help: "File type of the downloaded result." },
  ];

  const $ = (id) => document.getElementById(id);

  const state = {
    password: null,
    scene: null,      // { id, width, height, image: HTMLImageElement, url } — width/height of the STORED image
    product: null,    // { id, url }
    box: null,        // [x0, y0, x1, y1] in stored-image pixels, x1/y1 exclusive
    points: [],       // [{ x, y, label }] in stored-image pixels, label 1 = include, 0 = exclude
    maskId: null,     // mask of the current box and points; null once they change
    result: null,     // { url, format }
    showingBefore: false,
    busy: false,
  };

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  // ---------- small helpers ----------

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === false || value === null || value === undefined) continue;
      node.setAttribute(name, value === true ? "" : String(value));
    }
    node.append(...children);
    return node;
  }

  function readStoredPassword() {
    try { return sessionStorage.getItem(PASSWORD_KEY); } catch { return null; }
  }

  function storePassword(password) {
    try {
      if (password === null) sessionStorage.removeItem(PASSWORD_KEY);
      else sessionStorage.setItem(PASSWORD_KEY, password);
    } catch { /* storage may be blocked; the password then lasts until reload */ }
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  function formatMs(timings) {
    if (!timings) return "";
    const parts = Object.entries(timings).map(([stage, ms]) => `${stage} ${Math.round(ms)} ms`);
    return parts.join(", ");
  }

  function base64ToBlob(base64, mime) {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    return new Blob([bytes], { type: mime });
  }

  // ---------- talking to the server ----------

  async function parseJson(response) {
    try { return await response.json(); } catch { return null; }
  }

  function errorFrom(response, body) {
    const error = body && body.error;
    if (error && error.message) return new ApiError(response.status, error.code || "error", error.message);
    return new ApiError(response.status, "http_" + response.status,
      `The server answered HTTP ${response.status} ${response.statusText}`.trim() + ".");
  }

  /** Sends one request with the password; waits and retries while the server says it is busy (503). */
  async function api(path, { method = "GET", json, form } = {}) {
    const headers = { "X-App-Password": state.password || "" };
    let body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form) {
      body = form;
    }
    for (let attempt = 0; ; attempt++) {
      let response;
      try {
        response = await fetch(path, { method, headers, body, cache: "no-store" });
      } catch {
        throw new ApiError(0, "network", "Cannot reach the server. Check your connection and try again.");
      }
      const data = await parseJson(response);
      if (response.ok) return data;
      if (response.status === 401) {
        signOut("Your password was not accepted. Please sign in again.");
        throw new ApiError(401, "unauthorized", "Please sign in again.");
      }
      // Only a 503 that names a wait is "busy"; other 503s (no password configured) are final.
      const retryAfter = parseInt(response.headers.get("Retry-After") || "", 10);
      if (response.status === 503 && Number.isFinite(retryAfter) && attempt < MAX_BUSY_RETRIES) {
        await waitBusy(Math.max(1, retryAfter));
        continue;
      }
      throw errorFrom(response, data);
    }
  }

  async function waitBusy(seconds) {
    for (let left = seconds; left > 0; left--) {
      task.busyText = `The server is busy; retrying in ${left}s…`;
      renderStatus();
      await sleep(1000);
    }
    task.busyText = null;
    renderStatus();
  }

  // ---------- long-running tasks with a live status line ----------

  const task = { label: null, started: 0, modelState: null, busyText: null, timer: null, polling: false };

  function renderStatus() {
    const bar = $("status-bar");
    if (!task.label) { bar.hidden = true; return; }
    const seconds = Math.floor((Date.now() - task.started) / 1000);
    let text = `${task.label} ${seconds}s`;
    if (task.busyText) text = task.busyText;
    else if (WARMING_STATES.has(task.modelState)) text = `Warming up the model… ${seconds}s`;
    $("status-text").textContent = text;
    bar.hidden = false;
  }

  async function pollHealth() {
    if (task.polling) return; // one poll at a time, even if the server is slow
    task.polling = true;
    try {
      const response = await fetch("/health", { headers: { "X-App-Password": state.password || "" }, cache: "no-store" });
      const data = await parseJson(response);
      task.modelState = data && data.model ? data.model.state : null;
    } catch {
      task.modelState = null;
    } finally {
      task.polling = false;
    }
    renderStatus();
  }

  /** Runs `work` with the page marked busy, a ticking status line and errors shown in the banner. */
  async function runTask(label, work) {
    if (state.busy) return;
    state.busy = true;
    hideError();
    Object.assign(task, { label, started: Date.now(), modelState: null, busyText: null });
    renderStatus();
    task.timer = setInterval(() => { renderStatus(); pollHealth(); }, HEALTH_POLL_MS);
    refreshControls();
    try {
      await work();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) showError(error);
    } finally {
      clearInterval(task.timer);
      task.label = null;
      renderStatus();
      state.busy = false;
      refreshControls();
    }
  }

  function showError(error) {
    const message = error instanceof ApiError ? error.message : `Something went wrong: ${error.message || error}`;
    $("error-text").textContent = message;
    $("error-banner").dataset.code = error.code || "";
    $("error-banner").hidden = false;
  }

  function hideError() {
    $("error-banner").hidden = true;
  }

  // ---------- sign in ----------

  function showLogin(message) {
    $("app-section").hidden = true;
    $("logout-button").hidden = true;
    $("login-section").hidden = false;
    const error = $("login-error");
    error.textContent = message || "";
    error.hidden = !message;
    $("password-input").value = "";
    $("password-input").focus();
  }

  function showApp() {
    $("login-section").hidden = true;
    $("app-section").hidden = false;
    $("logout-button").hidden = false;
    refreshControls();
  }

  function signOut(message) {
    state.password = null;
    storePassword(null);
    showLogin(message);
  }

  /** Asks /health whether `password` opens the function. Returns null when it does, else a message. */
  async function checkPassword(password) {
    let response;
    try {
      response = await fetch("/health", { headers: { "X-App-Password": password }, cache: "no-store" });
    } catch {
      return "Cannot reach the server. Check your connection and try again.";
    }
    const data = await parseJson(response);
    const code = data && data.error ? data.error.code : null;
    if ((data && data.auth_configured === false) || code === "auth_not_configured") {
      return "The operator must set APP_PASSWORD on the function before anyone can sign in.";
    }
    if (response.status === 401) return "Wrong password.";
    if (data && data.authenticated === true) return null;
    if (data && data.error) return errorFrom(response, data).message;
    if (!response.ok) {
      const reasons = data && Array.isArray(data.reasons) && data.reasons.length ? `: ${data.reasons.join("; ")}` : ".";
      return `The function is not healthy (HTTP ${response.status})${reasons}`;
    }
    return "Wrong password.";
  }

  async function onLoginSubmit(event) {
    event.preventDefault();
    const password = $("password-input").value;
    if (!password) { showLogin("Enter the password."); return; }
    $("login-button").disabled = true;
    const problem = await checkPassword(password);
    $("login-button").disabled = false;
    if (problem) { showLogin(problem); return; }
    state.password = password;
    storePassword(password);
    showApp();
  }

  // ---------- uploads ----------

  function loadLocalImage(file) {
    return new Promise((resolve, reject) => {
      const url = URL.createObjectURL(file);
      const image = new Image();
      image.onload = () => resolve({ image, url });
      image.onerror = () => { URL.revokeObjectURL(url); reject(new Error("this browser cannot display that file as an image")); };
      image.src = url;
    });
  }

  function uploadImage(file, kind) {
    const form = new FormData();
    form.append("image", file, file.name || `${kind}.png`);
    form.append("kind", kind);
    return api("/upload", { method: "POST", form });
  }

  function onSceneFile(file) {
    if (!file) return;
    runTask("Uploading the scene…", async () => {
      const local = await loadLocalImage(file);
      let stored;
      try {
        stored = await uploadImage(file, "scene");
      } catch (error) {
        URL.revokeObjectURL(local.url);
        throw error;
      }
      if (state.scene) URL.revokeObjectURL(state.scene.url);
      state.scene = { id: stored.image_id, width: stored.width, height: stored.height, image: local.image, url: local.url };
      state.box = null;
      state.points = [];
      state.maskId = null;
      clearResult();
      $("cut-figure").hidden = true;
      describeScene(stored, local.image);
      prepareCanvas();
      $("scene-workspace").hidden = false;
    });
  }

  function describeScene(stored, image) {
    let text = `Stored at ${stored.width} × ${stored.height} px`;
    if (stored.original_width && (stored.original_width !== stored.width || stored.original_height !== stored.height)) {
      text += ` (downscaled from ${stored.original_width} × ${stored.original_height})`;
    }
    const localRatio = image.naturalWidth / image.naturalHeight;
    const storedRatio = stored.width / stored.height;
    if (Math.abs(localRatio / storedRatio - 1) > 0.02) {
      text += ". Note: the server sees this photo with a different shape than the browser (rotation?)";
    }
    $("scene-info").textContent = text + ".";
  }

  function onProductFile(file) {
    if (!file) return;
    runTask("Uploading the product…", async () => {
      const local = await loadLocalImage(file);
      let stored;
      try {
        stored = await uploadImage(file, "product");
      } catch (error) {
        URL.revokeObjectURL(local.url);
        throw error;
      }
      if (state.product) URL.revokeObjectURL(state.product.url);
      state.product = { id: stored.image_id, url: local.url };
      const thumb = $("product-thumb");
      thumb.src = local.url;
      thumb.hidden = false;
      $("product-info").textContent = `Stored at ${stored.width} × ${stored.height} px.`;
    });
  }

  function wireDropzone(zone, input, onFile) {
    input.addEventListener("change", () => { onFile(input.files[0]); input.value = ""; });
    zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("dragover"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("dragover"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragover");
      onFile(event.dataTransfer.files[0]);
    });
  }

  // ---------- the scene canvas: box and points ----------

  let drag = null; // { pointerId, start: {x, y}, current: {x, y} } while a box is being drawn

  function prepareCanvas() {
    const canvas = $("scene-canvas");
    // The canvas works in stored-image pixels; CSS scales it to the screen.
    canvas.width = state.scene.width;
    canvas.height = state.scene.height;
    drawScene();
    syncBoxInputs();
  }

  /** Screen pixels -> canvas (stored-image) pixels, per canvas pixel. */
  function canvasScale() {
    const canvas = $("scene-canvas");
    const rect = canvas.getBoundingClientRect();
    return rect.width > 0 ? canvas.width / rect.width : 1;
  }

  function toImagePoint(event) {
    const canvas = $("scene-canvas");
    const rect = canvas.getBoundingClientRect();
    const x = ((event.clientX - rect.left) * canvas.width) / rect.width;
    const y = ((event.clientY - rect.top) * canvas.height) / rect.height;
    return { x: Math.min(Math.max(x, 0), canvas.width), y: Math.min(Math.max(y, 0), canvas.height) };
  }

  function boxFrom(a, b) {
    const { width, height } = state.scene;
    return [
      Math.max(0, Math.floor(Math.min(a.x, b.x))),
      Math.max(0, Math.floor(Math.min(a.y, b.y))),
      Math.min(width, Math.ceil(Math.max(a.x, b.x))),
      Math.min(height, Math.ceil(Math.max(a.y, b.y))),
    ];
  }

  function clickMode(event) {
    if (event.shiftKey) return "include";
    if (event.altKey) return "exclude";
    return document.querySelector('input[name="mode"]:checked').value;
  }

  function onPointerDown(event) {
    if (!state.scene || state.busy || event.button > 0) return;
    event.preventDefault();
    const point = toImagePoint(event);
    const mode = clickMode(event);
    if (mode !== "box") {
      addPoint(point, mode === "include" ? 1 : 0);
      return;
    }
    $("scene-canvas").setPointerCapture(event.pointerId);
    drag = { pointerId: event.pointerId, start: point, current: point };
  }

  function onPointerMove(event) {
    if (!drag || event.pointerId !== drag.pointerId) return;
    drag.current = toImagePoint(event);
    drawScene();
  }

  function onPointerUp(event) {
    if (!drag || event.pointerId !== drag.pointerId) return;
    const box = boxFrom(drag.start, toImagePoint(event));
    drag = null;
    const minSide = MIN_BOX_SIDE_PX * canvasScale();
    if (box[2] - box[0] >= minSide && box[3] - box[1] >= minSide) setBox(box);
    else drawScene();
  }

  function onPointerCancel() {
    drag = null;
    drawScene();
  }

  function setBox(box) {
    state.box = box;
    promptChanged();
    syncBoxInputs();
  }

  function addPoint(point, label) {
    state.points.push({ x: Math.round(point.x), y: Math.round(point.y), label });
    promptChanged();
  }

  function promptChanged() {
    state.maskId = null;
    if (!$("cut-figure").hidden) $("cut-info").textContent = "The box or points changed: cut out again.";
    drawScene();
    refreshControls();
  }

  function drawScene() {
    const canvas = $("scene-canvas");
    const ctx = canvas.getContext("2d");
    const { width, height } = canvas;
    ctx.clearRect(0, 0, width, height);
    if (!state.scene) return;
    ctx.drawImage(state.scene.image, 0, 0, width, height);
    const box = drag ? boxFrom(drag.start, drag.current) : state.box;
    const px = canvasScale(); // canvas pixels per screen pixel, so lines look the same at any size
    if (box) {
      const [x0, y0, x1, y1] = box;
      ctx.save();
      ctx.fillStyle = "rgba(0, 0, 0, 0.35)";
      ctx.beginPath();
      ctx.rect(0, 0, width, height);
      ctx.rect(x0, y0, x1 - x0, y1 - y0);
      ctx.fill("evenodd");
      ctx.lineWidth = 2 * px;
      ctx.strokeStyle = "#ffffff";
      ctx.setLineDash([6 * px, 4 * px]);
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
      ctx.restore();
    }
    for (const point of state.points) {
      ctx.beginPath();
      ctx.arc(point.x, point.y, 6 * px, 0, 2 * Math.PI);
      ctx.fillStyle = point.label === 1 ? "#1f9d55" : "#d64545";
      ctx.fill();
      ctx.lineWidth = 2 * px;
      ctx.strokeStyle = "#ffffff";
      ctx.stroke();
    }
    describePrompt();
  }

  function describePrompt() {
    const include = state.points.filter((p) => p.label === 1).length;
    const exclude = state.points.length - include;
    const parts = [];
    parts.push(state.box ? `Box ${state.box.join(", ")}` : "No box yet");
    if (state.points.length) parts.push(`${include} include, ${exclude} exclude point${exclude === 1 ? "" : "s"}`);
    $("box-info").textContent = parts.join(" · ") + ".";
  }

  const BOX_INPUT_IDS = ["box-x0", "box-y0", "box-x1", "box-y1"];

  function syncBoxInputs() {
    BOX_INPUT_IDS.forEach((id, i) => {
      const input = $(id);
      input.max = i % 2 === 0 ? state.scene.width : state.scene.height;
      input.value = state.box ? state.box[i] : "";
    });
  }

  function onBoxInput() {
    const values = BOX_INPUT_IDS.map((id) => $(id).valueAsNumber);
    if (values.some((v) => !Number.isFinite(v))) return;
    const box = boxFrom({ x: values[0], y: values[1] }, { x: values[2], y: values[3] });
    if (box[2] > box[0] && box[3] > box[1]) {
      state.box = box;
      promptChanged();
    }
  }

  // ---------- cut out ----------

  function onCutOut() {
    runTask("Cutting out…", async () => {
      const request = { image_id: state.scene.id };
      if (state.box) request.box = state.box;
      if (state.points.length) {
        request.points = state.points.map((p) => [p.x, p.y]);
        request.labels = state.points.map((p) => p.label);
      }
      const answer = await api("/process", { method: "POST", json: request });
      state.maskId = answer.mask_id;
      const preview = $("cut-preview");
      preview.src = `data:image/jpeg;base64,${answer.preview_jpeg_base64}`;
      $("cut-figure").hidden = false;
      const score = typeof answer.score === "number" ? answer.score.toFixed(2) : "–";
      const area = typeof answer.area_fraction === "number" ? `${(answer.area_fraction * 100).toFixed(1)}% of the image` : "";
      $("cut-info").textContent =
        `Segmenter ${answer.segmenter}, score ${score}` + (area ? `, ${area}` : "") +
        (answer.cache_hit ? ", reused cached work" : "") +
        (answer.timings_ms ? `. ${formatMs(answer.timings_ms)}.` : ".");
      preview.dataset.segmenter = answer.segmenter || "";
    });
  }

  // ---------- settings ----------

  function settingId(setting) {
    return `setting-${setting.key}`;
  }

  function formatValue(setting, value) {
    const number = setting.digits ? Number(value).toFixed(setting.digits) : String(value);
    return number + (setting.unit || "");
  }

  /** The help line under a control: what it does, its range and its default. */
  function helpText(setting) {
    if (setting.type === "checkbox") return `${setting.help} Default: ${setting.value ? "on" : "off"}.`;
    if (setting.type === "select") {
      const label = setting.options.find(([value]) => value === setting.value)[1];
      return `${setting.help} Default: ${label}.`;
    }
    const range = setting.type === "range" ? ` Range ${setting.min}–${setting.max}${setting.unit || ""}.` : "";
    return `${setting.help}${range} Default ${formatValue(setting, setting.value)}.`;
  }

  function renderSetting(setting) {
    const id = settingId(setting);
    const helpId = `${id}-help`;
    const help = el("p", { class: "help", id: helpId }, helpText(setting));
    if (setting.type === "checkbox") {
      const input = el("input", { type: "checkbox", id, name: setting.key, "aria-describedby": helpId });
      input.checked = setting.value;
      return el("div", { class: "setting toggle" }, el("label", {}, input, " " + setting.label), help);
    }
    let control;
    let label = el("label", { for: id }, setting.label);
    if (setting.type === "select") {
      control = el("select", { id, name: setting.key, "aria-describedby": helpId },
        ...setting.options.map(([value, text]) => el("option", { value }, text)));
      control.value = setting.value;
    } else {
      control = el("input", {
        type: setting.type, id, name: setting.key, min: setting.min, max: setting.max, step: setting.step,
        value: setting.value, "aria-describedby": helpId, inputmode: setting.type === "number" ? "numeric" : null,
      });
    }
    if (setting.type === "range") {
      const output = el("output", { id: `${id}-value`, for: id }, formatValue(setting, setting.value));
      control.addEventListener("input", () => { output.textContent = formatValue(setting, control.value); });
      label = el("div", { class: "label-row" }, label, output);
    }
    return el("div", { class: "setting" }, label, control, help);
  }

  function buildSettingsForm() {
    const form = $("settings-form");
    form.replaceChildren(...SETTINGS.map(renderSetting));
    form.addEventListener("change", refreshDependentSettings);
    form.addEventListener("submit", (event) => event.preventDefault());
    refreshDependentSettings();
  }

  function resetSettings() {
    buildSettingsForm();
  }

  function refreshDependentSettings() {
    for (const setting of SETTINGS) {
      if (!setting.dependsOn) continue;
      const parent = SETTINGS.find((s) => s.key === setting.dependsOn);
      $(settingId(setting)).disabled = !$(settingId(parent)).checked;
    }
  }

  function readSetting(setting) {
    const input = $(settingId(setting));
    if (setting.type === "checkbox") return input.checked;
    if (setting.type === "select") return input.value;
    const value = input.valueAsNumber;
    if (!Number.isFinite(value)) return setting.value;
    const clamped = Math.min(Math.max(value, setting.min), setting.max);
    return setting.step === 1 ? Math.round(clamped) : clamped; // whole-pixel settings must be integers
  }

  /** The "settings" and "output" objects of a /process request, from the form. */
  function collectSettings() {
    const groups = { settings: {}, output: {}, offset: {} };
    for (const setting of SETTINGS) groups[setting.group || "settings"][setting.key] = readSetting(setting);
    groups.settings.offset = [groups.offset.dx, groups.offset.dy];
    return { settings: groups.settings, output: groups.output };
  }

  // ---------- replace and result ----------

  function onReplace() {
    runTask("Placing the new product…", async () => {
      const { settings, output } = collectSettings();
      const answer = await api("/process", {
        method: "POST",
        json: { image_id: state.scene.id, mask_id: state.maskId, product_id: state.product.id, settings, output },
      });
      if (answer.mask_id) state.maskId = answer.mask_id;
      showResult(answer);
    });
  }

  function clearResult() {
    if (state.result) URL.revokeObjectURL(state.result.url);
    state.result = null;
    $("result-section").hidden = true;
  }

  function showResult(answer) {
    const format = answer.format || "png";
    const blob = base64ToBlob(answer.image_base64, MIME_BY_FORMAT[format] || "application/octet-stream");
    clearResult();
    state.result = { url: URL.createObjectURL(blob), format };
    state.showingBefore = false;
    const link = $("download-link");
    link.href = state.result.url;
    link.download = `drishya-result.${EXTENSION_BY_FORMAT[format] || format}`;
    const image = $("result-image");
    image.dataset.width = answer.width;
    image.dataset.height = answer.height;
    renderBeforeAfter();
    const facts = [`${answer.width} × ${answer.height} px ${format.toUpperCase()}`];
    if (answer.segmenter) facts.push(`segmenter ${answer.segmenter}`);
    if (answer.cutout) facts.push(`cut-out ${answer.cutout}`);
    if (answer.blend_mode) facts.push(`blending ${answer.blend_mode}`);
    $("result-info").textContent = facts.join(", ") + (answer.timings_ms ? `. ${formatMs(answer.timings_ms)}.` : ".");
    $("result-section").hidden = false;
    $("result-section").scrollIntoView({ behavior: "smooth", block: "nearest" });
  }

  function renderBeforeAfter() {
    const image = $("result-image");
    const button = $("before-after-button");
    image.src = state.showingBefore ? state.scene.url : state.result.url;
    image.alt = state.showingBefore ? "The scene before the replacement" : "The scene with the new product";
    button.setAttribute("aria-pressed", String(state.showingBefore));
    button.textContent = state.showingBefore ? "Show after" : "Show before";
  }

  function toggleBeforeAfter() {
    if (!state.result) return;
    state.showingBefore = !state.showingBefore;
    renderBeforeAfter();
  }

  // ---------- enabling controls ----------

  function refreshControls() {
    const idle = !state.busy;
    const hasScene = Boolean(state.scene);
    const hasPrompt = Boolean(state.box) || state.points.some((p) => p.label === 1);
    $("cut-button").disabled = !(idle && hasScene && hasPrompt);
    $("clear-points-button").disabled = !(idle && state.points.length);
    $("clear-box-button").disabled = !(idle && state.box);
    $("replace-button").disabled = !(idle && state.maskId && state.product);
    $("scene-input").disabled = !idle;
    $("product-input").disabled = !idle;
    const missing = [];
    if (!state.maskId) missing.push("cut out the old product");
    if (!state.product) missing.push("upload the new product");
    const hint = missing.length ? `First ${missing.join(" and ")}.` : "";
    $("replace-hint").textContent = hint;
    $("replace-hint").hidden = !hint;
  }

  // ---------- start ----------

  function wire() {
    $("login-form").addEventListener("submit", onLoginSubmit);
    $("logout-button").addEventListener("click", () => signOut("Signed out."));
    $("error-dismiss").addEventListener("click", hideError);
    wireDropzone($("scene-drop"), $("scene-input"), onSceneFile);
    wireDropzone($("product-drop"), $("product-input"), onProductFile);
    const canvas = $("scene-canvas");
    canvas.addEventListener("pointerdown", onPointerDown);
    canvas.addEventListener("pointermove", onPointerMove);
    canvas.addEventListener("pointerup", onPointerUp);
    canvas.addEventListener("pointercancel", onPointerCancel);
    window.addEventListener("resize", () => { if (state.scene) drawScene(); });
    BOX_INPUT_IDS.forEach((id) => $(id).addEventListener("change", onBoxInput));
    $("clear-points-button").addEventListener("click", () => { state.points = []; promptChanged(); });
    $("clear-box-button").addEventListener("click", () => setBox(null));
    $("cut-button").addEventListener("click", onCutOut);
    $("replace-button").addEventListener("click", onReplace);
    $("reset-settings-button").addEventListener("click", resetSettings);
    $("before-after-button").addEventListener("click", toggleBeforeAfter);
    // Keep the page from opening a file dropped next to a drop zone.
    window.addEventListener("dragover", (event) => event.preventDefault());
    window.addEventListener("drop", (event) => event.preventDefault());
  }

  async function start() {
    buildSettingsForm();
    wire();
    const saved = readStoredPassword();
    if (!saved) { showLogin(); return; }
    const problem = await checkPassword(saved);
    if (problem) { storePassword(null); showLogin(problem === "Wrong password." ? null : problem); return; }
    state.password = saved;
    showApp();
  }

  start();
})();
