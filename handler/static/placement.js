// The new product as a layer on the photo: its shape, where it is, and the box sent to the
// server as settings.placement.
//
// A layer is { cx, cy, k, rotation, flip }: the centre of the product's opaque box in
// working-copy pixels, k working px per pixel of the product image (as the browser decoded
// it), rotation in degrees clockwise, flip (mirrored left to right). The server fits the
// turned product's opaque box into settings.placement; the page computes that box from the
// same shape, so its preview and the server's render agree.

const GRID_SIDE = 160;     // the product's alpha is sampled on a grid about this many cells wide
const OPAQUE = 128;

export class ProductShape {
  /** image: a decoded product image (ImageBitmap or HTMLImageElement). */
  constructor(image) {
    this.image = image;
    this.width = image.width;
    this.height = image.height;
    const g = Math.min(1, GRID_SIDE / Math.max(this.width, this.height));
    const gw = Math.max(1, Math.round(this.width * g)), gh = Math.max(1, Math.round(this.height * g));
    const canvas = document.createElement("canvas");
    canvas.width = gw;
    canvas.height = gh;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(image, 0, 0, gw, gh);
    const alpha = ctx.getImageData(0, 0, gw, gh).data;
    const cellW = this.width / gw, cellH = this.height / gh;
    let transparent = false;
    const rows = [];
    for (let y = 0; y < gh; y++) {
      let left = -1, right = -1;
      for (let x = 0; x < gw; x++) {
        const a = alpha[(y * gw + x) * 4 + 3];
        if (a < 250) transparent = true;
        if (a >= OPAQUE) { if (left < 0) left = x; right = x; }
      }
      if (left >= 0) rows.push([y, left, right]);
    }
    this.transparent = transparent;
    if (!rows.length) { this.setBox([0, 0, this.width, this.height]); return; }
    let x0 = Infinity, x1 = -Infinity;
    for (const [, l, r] of rows) { x0 = Math.min(x0, l); x1 = Math.max(x1, r); }
    const box = [x0 * cellW, rows[0][0] * cellH, (x1 + 1) * cellW, (rows[rows.length - 1][0] + 1) * cellH];
    // the outline's extreme cells, as corners in product px
    const outline = [];
    for (const [y, l, r] of rows) {
      for (const x of [l, r + 1]) outline.push([x * cellW, y * cellH], [x * cellW, (y + 1) * cellH]);
    }
    this.setBox(box, outline);
  }

  /** The product's opaque box in image px; outline: points on its edge (else the box's corners). */
  setBox(box, outline = null) {
    this.box = box;
    this.boxWidth = box[2] - box[0];
    this.boxHeight = box[3] - box[1];
    const cx = (box[0] + box[2]) / 2, cy = (box[1] + box[3]) / 2;
    const points = outline || [[box[0], box[1]], [box[2], box[1]], [box[0], box[3]], [box[2], box[3]]];
    this.points = points.map(([x, y]) => [x - cx, y - cy]);
    this.boundsCache = new Map();
  }

  /**
   * For an opaque product image the server removes a plain backdrop itself: take the size of
   * what it kept (width, height in this image's px), centred, as the product's box.
   */
  adoptServerSize(width, height) {
    if (this.transparent) return;
    const cx = this.width / 2, cy = this.height / 2;
    this.setBox([cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2]);
  }

  /** [x0, y0, x1, y1] of the turned (and mirrored) product around its box's centre, image px. */
  bounds(rotation, flip) {
    const key = `${rotation}|${flip}`;
    const cached = this.boundsCache.get(key);
    if (cached) return cached;
    const t = (rotation * Math.PI) / 180, cos = Math.cos(t), sin = Math.sin(t);
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const [px, py] of this.points) {
      const x = flip ? -px : px;
      const rx = x * cos - py * sin, ry = x * sin + py * cos;
      if (rx < x0) x0 = rx;
      if (rx > x1) x1 = rx;
      if (ry < y0) y0 = ry;
      if (ry > y1) y1 = ry;
    }
    const bounds = [x0, y0, x1, y1];
    if (this.boundsCache.size > 400) this.boundsCache.clear();
    this.boundsCache.set(key, bounds);
    return bounds;
  }

  /** settings.placement for a layer: whole working px. */
  placementBox(layer) {
    const [x0, y0, x1, y1] = this.bounds(layer.rotation, layer.flip);
    const box = [layer.cx + layer.k * x0, layer.cy + layer.k * y0, layer.cx + layer.k * x1, layer.cy + layer.k * y1]
      .map((v) => Math.round(v));
    if (box[2] <= box[0]) box[2] = box[0] + 1;
    if (box[3] <= box[1]) box[3] = box[1] + 1;
    return box;
  }

  /** The layer whose placement box is `box` (working px), e.g. the server's automatic placement. */
  layerFor(box, rotation = 0, flip = false) {
    const [x0, y0, x1, y1] = this.bounds(rotation, flip);
    const k = Math.max((box[2] - box[0]) / Math.max(1e-6, x1 - x0), 1e-6);
    return { cx: box[0] - k * x0, cy: box[1] - k * y0, k, rotation, flip };
  }

  /** Draws the product at `layer` on a context whose units are working px. */
  draw(ctx, layer, alpha = 1) {
    const [bx0, by0] = this.box;
    const hw = (this.boxWidth * layer.k) / 2, hh = (this.boxHeight * layer.k) / 2;
    ctx.save();
    ctx.globalAlpha = alpha;
    ctx.translate(layer.cx, layer.cy);
    ctx.rotate((layer.rotation * Math.PI) / 180);
    if (layer.flip) ctx.scale(-1, 1);
    ctx.drawImage(this.image, bx0, by0, this.boxWidth, this.boxHeight, -hw, -hh, 2 * hw, 2 * hh);
    ctx.restore();
  }
}

/** The layer's frame: its four corners and the turn handle, in working px. */
export function frame(shape, layer, handleDistance) {
  const hw = (shape.boxWidth * layer.k) / 2, hh = (shape.boxHeight * layer.k) / 2;
  const t = (layer.rotation * Math.PI) / 180, cos = Math.cos(t), sin = Math.sin(t);
  const at = (x, y) => ({ x: layer.cx + x * cos - y * sin, y: layer.cy + x * sin + y * cos });
  return {
    corners: [at(-hw, -hh), at(hw, -hh), at(hw, hh), at(-hw, hh)],
    top: at(0, -hh),
    knob: at(0, -hh - handleDistance),
  };
}

/** A point (working px) in the layer's own frame: x right and y down along the product. */
export function toLayer(layer, point) {
  const t = (-layer.rotation * Math.PI) / 180, cos = Math.cos(t), sin = Math.sin(t);
  const dx = point.x - layer.cx, dy = point.y - layer.cy;
  return { x: dx * cos - dy * sin, y: dx * sin + dy * cos };
}

/**
 * What a press at `point` (working px) grabs: "rotate", "scale" (a corner), "move" (inside),
 * or null. tolerance: the grab radius in working px.
 */
export function hit(shape, layer, point, tolerance, handleDistance) {
  const f = frame(shape, layer, handleDistance);
  if (Math.hypot(point.x - f.knob.x, point.y - f.knob.y) <= tolerance * 1.3) return "rotate";
  for (const corner of f.corners) {
    if (Math.hypot(point.x - corner.x, point.y - corner.y) <= tolerance) return "scale";
  }
  const local = toLayer(layer, point);
  const hw = (shape.boxWidth * layer.k) / 2, hh = (shape.boxHeight * layer.k) / 2;
  if (Math.abs(local.x) <= hw && Math.abs(local.y) <= hh) return "move";
  return null;
}

/** An angle in degrees brought into -180…180, snapped to the nearest quarter turn within 3°. */
export function normalAngle(degrees, snapStep = 0) {
  let a = ((degrees + 180) % 360 + 360) % 360 - 180;
  if (snapStep) a = Math.round(a / snapStep) * snapStep;
  for (const q of [-180, -90, 0, 90, 180]) if (Math.abs(a - q) < 3) a = q;
  if (a === -180) a = 180;
  return Math.round(a * 10) / 10;
}
