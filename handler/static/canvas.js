// The one canvas: the photo (or the result), the mask, the box and points, the brush and the
// new product's layer, drawn with zoom and pan; and what the pointer does on it.
//
// Coordinates: "image" = working-copy pixels (what the server calls the scene's pixels),
// "screen" = CSS pixels of the canvas. The editor never talks to the server: it reports
// changes through callbacks and main.js decides what follows.

import { frame, hit as hitLayer, normalAngle } from "./placement.js";

const HANDLE_PX = 7;             // half the side of a drawn handle
const KNOB_DISTANCE_PX = 28;     // the turn handle's distance above the product, screen px
const CLICK_SLOP_PX = 5;         // a press that moves less is a click
const LONG_PRESS_MS = 550;
const MIN_BOX_PX = 4;            // image px
const POINT_RADIUS_PX = 7;

export class Editor {
  /**
   * canvas: the <canvas>; viewport: a Viewport; hooks: {
   *   doc() → the current document; boxChanged(box, final); pointAdded(point); pointRemoved(index);
   *   brushBegin() → an editable Mask; brushEnd(mask); layerChanged(layer, final);
   *   viewChanged(); cancelGesture() }
   */
  constructor(canvas, viewport, hooks) {
    this.canvas = canvas;
    this.viewport = viewport;
    this.hooks = hooks;
    this.scene = null;        // ImageBitmap of the working copy
    this.result = null;       // ImageBitmap of the latest result (any size: drawn at working size)
    this.mask = null;         // Mask shown over the scene
    this.shape = null;        // ProductShape of the new product
    this.layer = null;        // where the product is (hand-placed or the server's automatic place)
    this.ghost = false;       // draw the product layer itself (the result does not show it there yet)
    this.tool = "box";
    this.pointLabel = 1;
    this.brushMode = "add";
    this.brushSize = 24;      // diameter, image px
    this.comparing = false;   // showing the photo before the change while the compare button is held
    this.touch = matchMedia("(pointer: coarse)").matches;
    this.pointers = new Map();
    this.gesture = null;
    this.hover = null;
    this.spaceHeld = false;
    this.frameRequested = false;
    viewport.onChange = () => { this.requestDraw(); hooks.viewChanged(); };
    this.wire();
  }

  // ---------- what is shown ----------

  get showingResult() {
    return Boolean(this.result) && this.tool === "product" && !this.comparing;
  }

  setScene(bitmap, width, height) {
    this.scene = bitmap;
    this.result = null;
    this.mask = null;
    this.layer = null;
    this.shape = null;
    this.viewport.setImage(width, height);
    this.requestDraw();
  }

  requestDraw() {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => { this.frameRequested = false; this.draw(); });
  }

  resize() {
    const rect = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(rect.width * dpr)), height = Math.max(1, Math.round(rect.height * dpr));
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    this.viewport.setView(rect.width, rect.height);
    this.requestDraw();
  }

  draw() {
    const { canvas, viewport } = this;
    const ctx = canvas.getContext("2d");
    const dpr = canvas.width / Math.max(1, viewport.viewWidth);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!this.scene) return;
    const W = viewport.imageWidth, H = viewport.imageHeight;
    ctx.setTransform(dpr * viewport.scale, 0, 0, dpr * viewport.scale, dpr * viewport.x, dpr * viewport.y);
    ctx.imageSmoothingEnabled = viewport.scale < 3;
    ctx.imageSmoothingQuality = "high";
    const base = this.showingResult ? this.result : this.scene;
    ctx.drawImage(base, 0, 0, W, H);
    const prompts = this.tool !== "product" && !this.comparing;
    if (prompts && this.mask) ctx.drawImage(this.mask.overlayCanvas(), 0, 0, W, H);
    if (this.tool === "product" && this.shape && this.layer && this.ghost && !this.comparing) {
      this.shape.draw(ctx, this.layer, 0.92);
    }
    // the rest in screen px, so lines keep their width at any zoom
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const doc = this.hooks.doc();
    if (prompts) {
      if (doc.box) this.drawBox(ctx, doc.box, this.tool === "box");
      for (const point of doc.points) this.drawPoint(ctx, point);
    }
    if (this.tool === "product" && this.shape && this.layer && !this.comparing) this.drawFrame(ctx);
    if (this.tool === "brush" && this.hover && !this.comparing) {
      const at = viewport.toScreen(this.hover.x, this.hover.y);
      ctx.beginPath();
      ctx.arc(at.x, at.y, Math.max(2, (this.brushSize / 2) * viewport.scale), 0, 2 * Math.PI);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = this.brushMode === "add" ? "#ffffff" : "#ff7a7a";
      ctx.setLineDash([4, 3]);
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }

  drawBox(ctx, box, handles) {
    const a = this.viewport.toScreen(box[0], box[1]);
    const b = this.viewport.toScreen(box[2], box[3]);
    ctx.save();
    if (!this.mask) {
      ctx.fillStyle = "rgba(0, 0, 0, 0.3)";
      ctx.beginPath();
      ctx.rect(0, 0, this.viewport.viewWidth, this.viewport.viewHeight);
      ctx.rect(a.x, a.y, b.x - a.x, b.y - a.y);
      ctx.fill("evenodd");
    }
    ctx.lineWidth = 2;
    ctx.strokeStyle = "rgba(0, 0, 0, 0.6)";
    ctx.strokeRect(a.x, a.y, b.x - a.x, b.y - a.y);
    ctx.strokeStyle = "#ffffff";
    ctx.setLineDash([6, 4]);
    ctx.strokeRect(a.x, a.y, b.x - a.x, b.y - a.y);
    ctx.setLineDash([]);
    if (handles) {
      for (const [hx, hy] of boxHandles(a, b)) square(ctx, hx, hy, HANDLE_PX);
    }
    ctx.restore();
  }

  drawPoint(ctx, point) {
    const at = this.viewport.toScreen(point.x, point.y);
    ctx.beginPath();
    ctx.arc(at.x, at.y, POINT_RADIUS_PX, 0, 2 * Math.PI);
    ctx.fillStyle = point.label === 1 ? "#1f9d55" : "#d64545";
    ctx.fill();
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#ffffff";
    ctx.stroke();
    ctx.beginPath();
    ctx.moveTo(at.x - 3.5, at.y);
    ctx.lineTo(at.x + 3.5, at.y);
    if (point.label === 1) { ctx.moveTo(at.x, at.y - 3.5); ctx.lineTo(at.x, at.y + 3.5); }
    ctx.stroke();
  }

  drawFrame(ctx) {
    const f = frame(this.shape, this.layer, KNOB_DISTANCE_PX / this.viewport.scale);
    const corners = f.corners.map((c) => this.viewport.toScreen(c.x, c.y));
    const top = this.viewport.toScreen(f.top.x, f.top.y);
    const knob = this.viewport.toScreen(f.knob.x, f.knob.y);
    ctx.save();
    ctx.lineWidth = 1.5;
    for (const [color, dash] of [["rgba(0,0,0,0.55)", []], ["#ffffff", [6, 4]]]) {
      ctx.strokeStyle = color;
      ctx.setLineDash(dash);
      ctx.beginPath();
      corners.forEach((c, i) => (i ? ctx.lineTo(c.x, c.y) : ctx.moveTo(c.x, c.y)));
      ctx.closePath();
      ctx.moveTo(top.x, top.y);
      ctx.lineTo(knob.x, knob.y);
      ctx.stroke();
    }
    ctx.setLineDash([]);
    for (const c of corners) square(ctx, c.x, c.y, HANDLE_PX);
    ctx.beginPath();
    ctx.arc(knob.x, knob.y, HANDLE_PX + 1, 0, 2 * Math.PI);
    ctx.fillStyle = "#2f6f62";
    ctx.fill();
    ctx.strokeStyle = "#ffffff";
    ctx.lineWidth = 2;
    ctx.stroke();
    ctx.restore();
  }

  // ---------- pointer ----------

  wire() {
    const c = this.canvas;
    c.addEventListener("pointerdown", (e) => this.onDown(e));
    c.addEventListener("pointermove", (e) => this.onMove(e));
    c.addEventListener("pointerup", (e) => this.onUp(e));
    c.addEventListener("pointercancel", (e) => this.onCancel(e));
    c.addEventListener("pointerleave", () => { this.hover = null; this.requestDraw(); });
    c.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
    c.addEventListener("contextmenu", (e) => e.preventDefault());
    window.addEventListener("keydown", (e) => {
      if (e.code === "Space" && !isTyping(e.target) && this.scene) {
        this.spaceHeld = true;
        this.updateCursor();
        if (e.target === document.body || e.target === this.canvas) e.preventDefault();
      }
    });
    window.addEventListener("keyup", (e) => {
      if (e.code === "Space") { this.spaceHeld = false; this.updateCursor(); }
    });
    new ResizeObserver(() => this.resize()).observe(c);
  }

  screenPoint(e) {
    const rect = this.canvas.getBoundingClientRect();
    return { x: e.clientX - rect.left, y: e.clientY - rect.top };
  }

  imagePoint(screen, clampToImage = true) {
    const p = this.viewport.toImage(screen.x, screen.y);
    if (!clampToImage) return p;
    return { x: clamp(p.x, 0, this.viewport.imageWidth), y: clamp(p.y, 0, this.viewport.imageHeight) };
  }

  tolerance(e) {
    return e.pointerType === "touch" ? 18 : 10;
  }

  onDown(e) {
    if (!this.scene || this.comparing) return;
    if (e.pointerType === "mouse" && e.button !== 0 && e.button !== 1) return;
    e.preventDefault();
    this.canvas.focus({ preventScroll: true });
    try { this.canvas.setPointerCapture(e.pointerId); } catch { /* synthetic pointers */ }
    const screen = this.screenPoint(e);
    this.pointers.set(e.pointerId, screen);
    if (this.pointers.size === 2) {
      // a second finger: whatever the first started is undone, and the two pinch and pan
      this.abortGesture();
      const [p, q] = [...this.pointers.values()];
      this.gesture = { kind: "pinch", distance: dist(p, q), center: mid(p, q) };
      return;
    }
    if (this.pointers.size > 2) return;
    const g = { kind: null, id: e.pointerId, start: screen, last: screen, moved: false, type: e.pointerType,
      shift: e.shiftKey, alt: e.altKey };
    this.gesture = g;
    if (this.spaceHeld || e.button === 1) { g.kind = "pan"; this.updateCursor(); return; }
    const image = this.imagePoint(screen, false);
    const tol = this.tolerance(e);
    const doc = this.hooks.doc();

    if (this.tool === "product") {
      const grab = this.shape && this.layer
        ? hitLayer(this.shape, this.layer, image, tol / this.viewport.scale, KNOB_DISTANCE_PX / this.viewport.scale) : null;
      if (!grab) { g.kind = "pan"; return; }
      Object.assign(g, { kind: grab, layer: { ...this.layer }, anchor: image });
      return;
    }
    if (this.tool === "brush") {
      const mask = this.hooks.brushBegin();
      if (!mask) { g.kind = "pan"; return; }
      const value = this.brushMode === "add" ? 1 : 0;
      Object.assign(g, { kind: "brush", mask, value, lastImage: image });
      mask.stroke(image, image, this.brushSize / 2, value);
      this.mask = mask;
      this.requestDraw();
      return;
    }
    const pointIndex = this.pointAt(doc.points, screen, tol);
    if (pointIndex >= 0) { Object.assign(g, { kind: "point-remove", index: pointIndex }); return; }
    if (this.tool === "points") { g.kind = "point-add"; return; }
    // the box tool
    const handle = doc.box ? boxHandleAt(doc.box, screen, this.viewport, tol) : null;
    if (handle) Object.assign(g, { kind: "box-edit", handle, box: [...doc.box], anchor: image });
    else Object.assign(g, { kind: "box-new", anchor: this.imagePoint(screen) });
    if (e.pointerType !== "mouse") {
      // a finger held still adds a point (there is no Shift or Alt on a phone)
      g.timer = setTimeout(() => {
        if (!g.moved && this.gesture === g) {
          g.kind = "long-press";
          this.hooks.pointAdded({ ...this.imagePoint(screen), label: this.pointLabel });
          if (navigator.vibrate) navigator.vibrate(15);
        }
      }, LONG_PRESS_MS);
    }
  }

  onMove(e) {
    const screen = this.screenPoint(e);
    if (this.tool === "brush") { this.hover = this.imagePoint(screen, false); this.requestDraw(); }
    if (!this.pointers.has(e.pointerId)) { this.updateHoverCursor(screen); return; }
    const previous = this.pointers.get(e.pointerId);
    this.pointers.set(e.pointerId, screen);
    const g = this.gesture;
    if (!g) return;
    if (g.kind === "pinch") {
      if (this.pointers.size < 2) return;
      const [p, q] = [...this.pointers.values()];
      const d = dist(p, q), center = mid(p, q);
      this.viewport.panBy(center.x - g.center.x, center.y - g.center.y);
      if (g.distance > 0) this.viewport.zoomAt(d / g.distance, center.x, center.y);
      g.distance = d;
      g.center = center;
      return;
    }
    if (e.pointerId !== g.id) return;
    if (!g.moved && dist(screen, g.start) >= CLICK_SLOP_PX) {
      g.moved = true;
      clearTimeout(g.timer);
    }
    const image = this.imagePoint(screen, false);
    switch (g.kind) {
      case "pan":
        this.viewport.panBy(screen.x - previous.x, screen.y - previous.y);
        break;
      case "point-add":
        if (g.moved && this.viewport.scale > this.viewport.fitScale() * 1.01) {
          g.kind = "pan";
          this.viewport.panBy(screen.x - g.start.x, screen.y - g.start.y);
        }
        break;
      case "box-new":
        if (g.moved) this.hooks.boxChanged(normalBox(g.anchor, this.imagePoint(screen), this.viewport), false);
        break;
      case "box-edit":
        if (g.moved) this.hooks.boxChanged(editBox(g.box, g.handle, image, g.anchor, this.viewport), false);
        break;
      case "brush":
        g.mask.stroke(g.lastImage, image, this.brushSize / 2, g.value);
        g.lastImage = image;
        this.requestDraw();
        break;
      case "move":
      case "scale":
      case "rotate":
        if (g.moved) this.hooks.layerChanged(this.dragLayer(g, image, e.shiftKey), false);
        break;
      default:
        break;
    }
  }

  onUp(e) {
    const g = this.gesture;
    this.pointers.delete(e.pointerId);
    if (!g) return;
    if (g.kind === "pinch") {
      if (this.pointers.size === 0) this.gesture = null;
      return;
    }
    if (e.pointerId !== g.id) return;
    clearTimeout(g.timer);
    this.gesture = null;
    const screen = this.screenPoint(e);
    const image = this.imagePoint(screen, false);
    switch (g.kind) {
      case "point-remove":
        if (!g.moved) this.hooks.pointRemoved(g.index);
        break;
      case "point-add":
        if (!g.moved) this.hooks.pointAdded({ ...this.imagePoint(screen), label: this.pointLabel });
        break;
      case "box-new":
        if (g.moved) {
          const box = normalBox(g.anchor, this.imagePoint(screen), this.viewport);
          this.hooks.boxChanged(box && box[2] - box[0] >= MIN_BOX_PX && box[3] - box[1] >= MIN_BOX_PX ? box : null, true);
        } else if (g.shift || g.alt) {
          this.hooks.pointAdded({ ...this.imagePoint(screen), label: g.alt ? 0 : 1 });
        }
        break;
      case "box-edit":
        if (g.moved) this.hooks.boxChanged(editBox(g.box, g.handle, image, g.anchor, this.viewport), true);
        break;
      case "brush":
        this.hooks.brushEnd(g.mask);
        break;
      case "move":
      case "scale":
      case "rotate":
        if (g.moved) this.hooks.layerChanged(this.dragLayer(g, image, e.shiftKey), true);
        break;
      default:
        break;
    }
    this.updateCursor();
  }

  onCancel(e) {
    this.pointers.delete(e.pointerId);
    if (this.gesture && (this.gesture.id === e.pointerId || this.gesture.kind === "pinch")) this.abortGesture();
  }

  abortGesture() {
    const g = this.gesture;
    this.gesture = null;
    if (!g) return;
    clearTimeout(g.timer);
    if (g.kind === "brush") this.hooks.brushEnd(g.mask, true);
    else if (g.kind && g.kind !== "pan" && g.moved) this.hooks.cancelGesture();
  }

  onWheel(e) {
    if (!this.scene) return;
    e.preventDefault();
    const screen = this.screenPoint(e);
    const delta = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY;
    this.viewport.zoomAt(Math.exp(-delta * (e.ctrlKey ? 0.01 : 0.0015)), screen.x, screen.y);
  }

  dragLayer(g, image, snap) {
    const start = g.layer;
    if (g.kind === "move") {
      return { ...start, cx: start.cx + image.x - g.anchor.x, cy: start.cy + image.y - g.anchor.y };
    }
    if (g.kind === "scale") {
      const d0 = Math.hypot(g.anchor.x - start.cx, g.anchor.y - start.cy);
      const d1 = Math.hypot(image.x - start.cx, image.y - start.cy);
      const minK = 8 / Math.max(1, Math.min(this.shape.boxWidth, this.shape.boxHeight));
      return { ...start, k: Math.max(minK, start.k * (d1 / Math.max(1e-6, d0))) };
    }
    const a0 = Math.atan2(g.anchor.y - start.cy, g.anchor.x - start.cx);
    const a1 = Math.atan2(image.y - start.cy, image.x - start.cx);
    return { ...start, rotation: normalAngle(start.rotation + ((a1 - a0) * 180) / Math.PI, snap ? 15 : 0) };
  }

  pointAt(points, screen, tol) {
    let best = -1, bestDistance = tol;
    points.forEach((point, i) => {
      const at = this.viewport.toScreen(point.x, point.y);
      const d = dist(at, screen);
      if (d <= bestDistance) { best = i; bestDistance = d; }
    });
    return best;
  }

  updateHoverCursor(screen) {
    if (this.spaceHeld || !this.scene) { this.updateCursor(); return; }
    let cursor = "crosshair";
    const image = this.imagePoint(screen, false);
    if (this.tool === "product") {
      const grab = this.shape && this.layer
        ? hitLayer(this.shape, this.layer, image, 10 / this.viewport.scale, KNOB_DISTANCE_PX / this.viewport.scale) : null;
      cursor = grab === "move" ? "move" : grab === "scale" ? "nwse-resize" : grab === "rotate" ? "grab" : "default";
    } else if (this.tool === "brush") {
      cursor = "none";
    } else {
      const doc = this.hooks.doc();
      if (this.pointAt(doc.points, screen, 10) >= 0) cursor = "pointer";
      else if (this.tool === "box" && doc.box) {
        const handle = boxHandleAt(doc.box, screen, this.viewport, 10);
        cursor = handle ? CURSORS[handle] : "crosshair";
      }
    }
    this.canvas.style.cursor = cursor;
  }

  updateCursor() {
    this.canvas.style.cursor = this.spaceHeld ? (this.gesture?.kind === "pan" ? "grabbing" : "grab") : "";
  }
}

// ---------- geometry ----------

const CURSORS = { nw: "nwse-resize", se: "nwse-resize", ne: "nesw-resize", sw: "nesw-resize",
  n: "ns-resize", s: "ns-resize", e: "ew-resize", w: "ew-resize", inside: "move" };

function boxHandles(a, b) {
  const mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2;
  return [[a.x, a.y], [mx, a.y], [b.x, a.y], [b.x, my], [b.x, b.y], [mx, b.y], [a.x, b.y], [a.x, my]];
}

/** Which handle of the box (screen tolerance tol) is at `screen`: nw, n, ne, e, se, s, sw, w, inside, or null. */
function boxHandleAt(box, screen, viewport, tol) {
  const a = viewport.toScreen(box[0], box[1]);
  const b = viewport.toScreen(box[2], box[3]);
  const nearX0 = Math.abs(screen.x - a.x) <= tol, nearX1 = Math.abs(screen.x - b.x) <= tol;
  const nearY0 = Math.abs(screen.y - a.y) <= tol, nearY1 = Math.abs(screen.y - b.y) <= tol;
  const withinX = screen.x >= a.x - tol && screen.x <= b.x + tol;
  const withinY = screen.y >= a.y - tol && screen.y <= b.y + tol;
  if (!withinX || !withinY) return null;
  const v = nearY0 ? "n" : nearY1 ? "s" : "";
  const h = nearX0 ? "w" : nearX1 ? "e" : "";
  if (v || h) return v + h;
  return "inside";
}

function normalBox(a, b, viewport) {
  const W = viewport.imageWidth, H = viewport.imageHeight;
  const box = [Math.floor(Math.min(a.x, b.x)), Math.floor(Math.min(a.y, b.y)),
    Math.ceil(Math.max(a.x, b.x)), Math.ceil(Math.max(a.y, b.y))];
  box[0] = clamp(box[0], 0, W - 1); box[1] = clamp(box[1], 0, H - 1);
  box[2] = clamp(box[2], box[0] + 1, W); box[3] = clamp(box[3], box[1] + 1, H);
  return box;
}

function editBox(box, handle, image, anchor, viewport) {
  let [x0, y0, x1, y1] = box;
  const W = viewport.imageWidth, H = viewport.imageHeight;
  if (handle === "inside") {
    const dx = clamp(image.x - anchor.x, -x0, W - x1), dy = clamp(image.y - anchor.y, -y0, H - y1);
    return [x0 + dx, y0 + dy, x1 + dx, y1 + dy].map(Math.round);
  }
  if (handle.includes("w")) x0 = image.x;
  if (handle.includes("e")) x1 = image.x;
  if (handle.includes("n")) y0 = image.y;
  if (handle.includes("s")) y1 = image.y;
  const out = normalBox({ x: x0, y: y0 }, { x: x1, y: y1 }, viewport);
  if (out[2] - out[0] < MIN_BOX_PX) out[2] = Math.min(W, out[0] + MIN_BOX_PX);
  if (out[3] - out[1] < MIN_BOX_PX) out[3] = Math.min(H, out[1] + MIN_BOX_PX);
  return out;
}

function square(ctx, x, y, half) {
  ctx.fillStyle = "#ffffff";
  ctx.strokeStyle = "#2f6f62";
  ctx.lineWidth = 2;
  ctx.fillRect(x - half, y - half, 2 * half, 2 * half);
  ctx.strokeRect(x - half, y - half, 2 * half, 2 * half);
}

function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }
function dist(p, q) { return Math.hypot(p.x - q.x, p.y - q.y); }
function mid(p, q) { return { x: (p.x + q.x) / 2, y: (p.y + q.y) / 2 }; }
function isTyping(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName)
    && !["range", "checkbox", "radio", "button"].includes(target.type));
}
