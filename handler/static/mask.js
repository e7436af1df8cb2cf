// The old product's mask at the working copy's resolution: one byte a pixel (1: product).
// Brush strokes, grow and shrink make new masks (the old one stays for undo); the mask is
// drawn over the photo as a tint with an outline, and goes to the server as a PNG.

const TINT = [47, 128, 255, 105];     // RGBA of the fill
const OUTLINE = [255, 214, 0, 255];   // RGBA of the edge

export class Mask {
  /** bits: Uint8Array(width * height) of 0/1. id: the server's mask_id once it stores this mask. */
  constructor(width, height, bits, { id = null, facts = null, edited = false } = {}) {
    this.width = width;
    this.height = height;
    this.bits = bits;
    this.id = id;
    this.facts = facts;      // the server's answer about this mask (area, warnings, timings …)
    this.edited = edited;    // painted by the person (sent as mask_png_base64)
    this.overlay = null;     // canvas with the tint and outline, built when first drawn
    this.dirty = null;       // [x0, y0, x1, y1] of the overlay still to redraw
    this.saving = null;      // the pending request that stores an edited mask
    this.extent = null;      // where its pixels are, when known: [x0, y0, x1, y1]
  }

  static async fromPngBase64(base64, width, height) {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const image = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(image, 0, 0, width, height);
    image.close();
    const rgba = ctx.getImageData(0, 0, width, height).data;
    const bits = new Uint8Array(width * height);
    let x0 = width, y0 = height, x1 = -1, y1 = -1;
    for (let y = 0, i = 0; y < height; y++) {
      for (let x = 0; x < width; x++, i++) {
        const j = i * 4;
        if (rgba[j] > 127 && rgba[j + 3] > 127) {
          bits[i] = 1;
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
          if (y < y0) y0 = y;
          y1 = y;
        }
      }
    }
    const mask = new Mask(width, height, bits);
    // only this part of the overlay needs painting (the rest stays transparent)
    mask.extent = x1 < 0 ? [0, 0, 0, 0] : [x0 - 1, y0 - 1, x1 + 2, y1 + 2];
    return mask;
  }

  /** A copy to edit: a new mask (no id) that the person painted. */
  editable() {
    return new Mask(this.width, this.height, this.bits.slice(), { edited: true });
  }

  count() {
    let n = 0;
    for (let i = 0; i < this.bits.length; i++) n += this.bits[i];
    return n;
  }

  areaFraction() {
    return this.count() / this.bits.length;
  }

  isEmpty() {
    return !this.bits.some((v) => v);
  }

  /** [x0, y0, x1, y1] of the product's pixels (x1, y1 exclusive), or null. */
  bbox() {
    const { width, height, bits } = this;
    let x0 = width, y0 = height, x1 = -1, y1 = -1;
    for (let y = 0; y < height; y++) {
      const row = y * width;
      for (let x = 0; x < width; x++) {
        if (bits[row + x]) {
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
          if (y < y0) y0 = y;
          y1 = y;
        }
      }
    }
    return x1 < 0 ? null : [x0, y0, x1 + 1, y1 + 1];
  }

  /** Paints a stroke from a to b (image px) with a round brush; value 1 adds, 0 erases. */
  stroke(a, b, radius, value) {
    const length = Math.hypot(b.x - a.x, b.y - a.y);
    const steps = Math.max(1, Math.ceil(length / Math.max(1, radius / 3)));
    for (let i = 0; i <= steps; i++) {
      const t = i / steps;
      this.stamp(a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t, radius, value);
    }
  }

  stamp(cx, cy, radius, value) {
    const { width, height, bits } = this;
    const r = Math.max(0.5, radius);
    const y0 = Math.max(0, Math.floor(cy - r)), y1 = Math.min(height - 1, Math.ceil(cy + r));
    for (let y = y0; y <= y1; y++) {
      const dy = y + 0.5 - cy;
      if (Math.abs(dy) > r) continue;
      const half = Math.sqrt(r * r - dy * dy);
      const xa = Math.max(0, Math.ceil(cx - half - 0.5)), xb = Math.min(width - 1, Math.floor(cx + half - 0.5));
      if (xb >= xa) bits.fill(value, y * width + xa, y * width + xb + 1);
    }
    this.markDirty([Math.floor(cx - r) - 1, Math.floor(cy - r) - 1, Math.ceil(cx + r) + 2, Math.ceil(cy + r) + 2]);
  }

  /** A new mask grown (px > 0) or shrunk (px < 0) by about |px| pixels (round corners). */
  grown(px) {
    const { width, height, bits } = this;
    const target = px > 0 ? 1 : 0;
    const distance = distanceTo(bits, width, height, target);
    const limit = Math.abs(px);
    const out = new Uint8Array(bits.length);
    for (let i = 0; i < bits.length; i++) {
      out[i] = px > 0 ? (bits[i] || distance[i] <= limit ? 1 : 0) : (bits[i] && distance[i] > limit ? 1 : 0);
    }
    return new Mask(width, height, out, { edited: true });
  }

  /** The mask as a PNG (the product in the alpha channel), base64 without a data: prefix. */
  async toPngBase64() {
    const canvas = document.createElement("canvas");
    canvas.width = this.width;
    canvas.height = this.height;
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(this.width, this.height);
    const data = image.data;
    for (let i = 0, j = 0; i < this.bits.length; i++, j += 4) {
      data[j] = data[j + 1] = data[j + 2] = 255;
      data[j + 3] = this.bits[i] ? 255 : 0;
    }
    ctx.putImageData(image, 0, 0);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    const url = await new Promise((resolve) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.readAsDataURL(blob);
    });
    return String(url).split(",", 2)[1];
  }

  markDirty(rect) {
    if (!this.overlay) return;
    this.dirty = this.dirty ? [Math.min(this.dirty[0], rect[0]), Math.min(this.dirty[1], rect[1]),
      Math.max(this.dirty[2], rect[2]), Math.max(this.dirty[3], rect[3])] : rect;
  }

  /** The tint-and-outline canvas, brought up to date. */
  overlayCanvas() {
    if (!this.overlay) {
      this.overlay = document.createElement("canvas");
      this.overlay.width = this.width;
      this.overlay.height = this.height;
      this.dirty = this.extent || [0, 0, this.width, this.height];
    }
    if (this.dirty) {
      const x0 = Math.max(0, this.dirty[0]), y0 = Math.max(0, this.dirty[1]);
      const x1 = Math.min(this.width, this.dirty[2]), y1 = Math.min(this.height, this.dirty[3]);
      this.dirty = null;
      if (x1 > x0 && y1 > y0) this.paintOverlay(x0, y0, x1, y1);
    }
    return this.overlay;
  }

  paintOverlay(x0, y0, x1, y1) {
    const { width, height, bits } = this;
    const ctx = this.overlay.getContext("2d");
    const image = ctx.createImageData(x1 - x0, y1 - y0);
    const data = image.data;
    let j = 0;
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++, j += 4) {
        const i = y * width + x;
        if (!bits[i]) continue;
        const edge = x === 0 || y === 0 || x === width - 1 || y === height - 1
          || !bits[i - 1] || !bits[i + 1] || !bits[i - width] || !bits[i + width];
        const color = edge ? OUTLINE : TINT;
        data[j] = color[0]; data[j + 1] = color[1]; data[j + 2] = color[2]; data[j + 3] = color[3];
      }
    }
    ctx.putImageData(image, x0, y0);
  }
}

/** For every pixel, about how far (px) the nearest pixel whose bit is `target` lies (chamfer 1/√2). */
function distanceTo(bits, width, height, target) {
  const far = 1e9;
  const d = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) d[i] = bits[i] === target ? 0 : far;
  const diagonal = Math.SQRT2;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      let v = d[i];
      if (v === 0) continue;
      if (x > 0) v = Math.min(v, d[i - 1] + 1);
      if (y > 0) {
        v = Math.min(v, d[i - width] + 1);
        if (x > 0) v = Math.min(v, d[i - width - 1] + diagonal);
        if (x < width - 1) v = Math.min(v, d[i - width + 1] + diagonal);
      }
      d[i] = v;
    }
  }
  for (let y = height - 1; y >= 0; y--) {
    for (let x = width - 1; x >= 0; x--) {
      const i = y * width + x;
      let v = d[i];
      if (v === 0) continue;
      if (x < width - 1) v = Math.min(v, d[i + 1] + 1);
      if (y < height - 1) {
        v = Math.min(v, d[i + width] + 1);
        if (x < width - 1) v = Math.min(v, d[i + width + 1] + diagonal);
        if (x > 0) v = Math.min(v, d[i + width - 1] + diagonal);
      }
      d[i] = v;
    }
  }
  return d;
}
