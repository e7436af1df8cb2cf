// The work on one photo as a document with undo and redo.
//
// A document is an immutable object: { box, points, editedMask, layer, settings }.
//   box: [x0, y0, x1, y1] in working-copy pixels (x1, y1 exclusive) or null;
//   points: [{ x, y, label }] (label 1: product, 0: not product);
//   editedMask: a Mask the user painted (brush, grow, shrink) or null: the mask then comes
//     from the box and points (segmentation);
//   layer: the new product's place set by hand { cx, cy, k, rotation, flip } or null
//     (automatic: the server places it where the old product stood);
//   settings: { name: value } of the schema's settings.
// `set` changes the current document without a history step (while a drag goes on);
// `commit` makes the current document one step; `update` does both.

const MAX_STEPS = 60;

export class History {
  constructor(initial) {
    this.steps = [initial];
    this.index = 0;
    this.current = initial;
    this.listeners = new Set();
  }

  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  notify(reason) {
    for (const listener of this.listeners) listener(this.current, reason);
  }

  /** Replaces the current document by one with `patch` applied, without a history step. */
  set(patch, reason = "set") {
    this.current = { ...this.current, ...patch };
    this.notify(reason);
  }

  /** Makes the current document a step of its own (no-op when nothing changed). */
  commit() {
    if (this.current === this.steps[this.index]) return;
    this.steps = this.steps.slice(0, this.index + 1);
    this.steps.push(this.current);
    if (this.steps.length > MAX_STEPS) this.steps.shift();
    this.index = this.steps.length - 1;
    this.notify("commit");
  }

  update(patch, reason = "update") {
    this.set(patch, reason);
    this.commit();
  }

  /** Drops an uncommitted change (a drag that was cancelled). */
  revert() {
    if (this.current === this.steps[this.index]) return;
    this.current = this.steps[this.index];
    this.notify("revert");
  }

  canUndo() { return this.index > 0 || this.current !== this.steps[this.index]; }
  canRedo() { return this.index < this.steps.length - 1; }

  undo() {
    if (this.current !== this.steps[this.index]) { this.revert(); return true; }
    if (this.index === 0) return false;
    this.index -= 1;
    this.current = this.steps[this.index];
    this.notify("undo");
    return true;
  }

  redo() {
    if (!this.canRedo()) return false;
    this.index += 1;
    this.current = this.steps[this.index];
    this.notify("redo");
    return true;
  }

  /** Starts afresh from `doc` (a new photo): no undo past this point. */
  reset(doc) {
    this.steps = [doc];
    this.index = 0;
    this.current = doc;
    this.notify("reset");
  }
}

export function emptyDocument(settings) {
  return { box: null, points: [], editedMask: null, layer: null, settings };
}

/** A key that names the box and points of a document (masks from segmentation are cached by it). */
export function promptKey(doc) {
  if (!doc.box && !doc.points.some((p) => p.label === 1)) return null;
  return JSON.stringify([doc.box, doc.points.map((p) => [p.x, p.y, p.label])]);
}
