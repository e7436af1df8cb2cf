// Zoom and pan: where the photo (working-copy pixels) lies on the canvas (CSS pixels).
// screen = image * scale + offset.

const MAX_SCALE = 16;
const MARGIN_PX = 12;

export class Viewport {
  constructor() {
    this.imageWidth = 0;
    this.imageHeight = 0;
    this.viewWidth = 1;
    this.viewHeight = 1;
    this.scale = 1;
    this.x = 0;
    this.y = 0;
    this.fitted = true;   // follows the view's size until the person zooms or pans
    this.insetTop = 0;    // px at the top kept free for the toolbar when fitting
    this.insetBottom = 0; // and at the bottom, for the zoom buttons (narrow screens)
    this.onChange = () => {};
  }

  setImage(width, height) {
    this.imageWidth = width;
    this.imageHeight = height;
    this.fit();
  }

  setView(width, height) {
    const changed = width !== this.viewWidth || height !== this.viewHeight;
    this.viewWidth = Math.max(1, width);
    this.viewHeight = Math.max(1, height);
    if (changed && this.fitted) this.fit();
    else this.clamp();
  }

  fitScale() {
    if (!this.imageWidth) return 1;
    const margin = Math.min(MARGIN_PX, this.viewWidth / 20);
    const top = Math.max(margin, this.insetTop), bottom = Math.max(margin, this.insetBottom);
    return Math.min((this.viewWidth - 2 * margin) / this.imageWidth, (this.viewHeight - top - bottom) / this.imageHeight);
  }

  fit() {
    this.scale = this.fitScale();
    this.x = (this.viewWidth - this.imageWidth * this.scale) / 2;
    const margin = Math.min(MARGIN_PX, this.viewWidth / 20);
    const top = Math.max(margin, this.insetTop), bottom = Math.max(margin, this.insetBottom);
    this.y = top + (this.viewHeight - top - bottom - this.imageHeight * this.scale) / 2;
    this.fitted = true;
    this.onChange();
  }

  /** Zooms by `factor` keeping the image point under (sx, sy) where it is. */
  zoomAt(factor, sx = this.viewWidth / 2, sy = this.viewHeight / 2) {
    const minScale = Math.min(this.fitScale(), 1) / 2;
    const scale = Math.min(MAX_SCALE, Math.max(minScale, this.scale * factor));
    const ix = (sx - this.x) / this.scale;
    const iy = (sy - this.y) / this.scale;
    this.scale = scale;
    this.x = sx - ix * scale;
    this.y = sy - iy * scale;
    this.fitted = false;
    this.clamp();
    this.onChange();
  }

  panBy(dx, dy) {
    this.x += dx;
    this.y += dy;
    this.fitted = false;
    this.clamp();
    this.onChange();
  }

  /** Keeps at least part of the photo in view. */
  clamp() {
    const w = this.imageWidth * this.scale;
    const h = this.imageHeight * this.scale;
    const keep = 40;
    this.x = Math.min(this.viewWidth - Math.min(keep, w), Math.max(Math.min(keep, w) - w, this.x));
    this.y = Math.min(this.viewHeight - Math.min(keep, h), Math.max(Math.min(keep, h) - h, this.y));
  }

  toImage(sx, sy) {
    return { x: (sx - this.x) / this.scale, y: (sy - this.y) / this.scale };
  }

  toScreen(ix, iy) {
    return { x: ix * this.scale + this.x, y: iy * this.scale + this.y };
  }

  /** Zoom relative to the photo's working copy shown 1:1, in per cent. */
  percent() {
    return Math.round(this.scale * 100);
  }
}
