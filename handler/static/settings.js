// The settings controls, built from the server's schema (GET /settings-schema): one labelled
// control per setting, basic ones shown, advanced ones in "More settings". The settings the
// canvas itself changes (where the product is, its turn and mirror) get no control here.

export const CANVAS_SETTINGS = new Set(["placement", "rotation", "flip"]);
// Settings that the server ignores while settings.placement is set (the product placed by hand).
export const PLACEMENT_REPLACES = new Set(["scale", "offset", "anchor"]);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children);
  return node;
}

function digits(step) {
  if (!step || Number.isInteger(step)) return 0;
  return Math.min(3, String(step).split(".")[1].length);
}

function formatValue(spec, value) {
  if (value === null || value === undefined) return "automatic";
  const text = Number(value).toFixed(digits(spec.step));
  if (!spec.unit) return text;
  return spec.unit === "×" || spec.unit === "°" ? `${text}${spec.unit}` : `${text} ${spec.unit}`;
}

export class SettingsForm {
  /**
   * schema: the server's list; basic / advanced: the containers; onChange(values, final):
   * called as the person changes a control (final: the change is complete, e.g. the slider
   * was released).
   */
  constructor(schema, basic, advanced, onChange) {
    this.schema = schema.filter((spec) => !CANVAS_SETTINGS.has(spec.name) && spec.type !== "box");
    this.specs = new Map(schema.map((spec) => [spec.name, spec]));
    this.onChange = onChange;
    this.controls = new Map();
    this.placedByHand = false;
    basic.replaceChildren();
    advanced.replaceChildren();
    for (const spec of this.schema) {
      const control = this.build(spec);
      (spec.group === "basic" ? basic : advanced).append(control.root);
      this.controls.set(spec.name, control);
    }
    this.refresh();
  }

  /** The schema's defaults for every setting (canvas settings included). */
  defaults() {
    const values = {};
    for (const spec of this.specs.values()) values[spec.name] = Array.isArray(spec.default) ? [...spec.default] : spec.default;
    return values;
  }

  build(spec) {
    const id = `setting-${spec.name}`;
    const helpId = `${id}-help`;
    const help = el("p", { class: "help", id: helpId, hidden: true }, spec.help || "");
    const info = el("button", { type: "button", class: "info", "aria-expanded": "false", "aria-controls": helpId,
      "aria-label": `About ${spec.label}` }, "?");
    info.addEventListener("click", () => {
      help.hidden = !help.hidden;
      info.setAttribute("aria-expanded", String(!help.hidden));
    });
    const note = el("p", { class: "note", hidden: true });
    const changed = (final) => { this.refresh(); this.onChange(this.values(), final); };
    let root, read, write;

    if (spec.type === "boolean") {
      const input = el("input", { type: "checkbox", id, name: spec.name, "aria-describedby": helpId });
      input.addEventListener("change", () => changed(true));
      root = el("div", { class: "setting toggle", "data-setting": spec.name },
        el("div", { class: "label-row" }, el("label", { for: id }, input, ` ${spec.label}`), info), note, help);
      read = () => input.checked;
      write = (value) => { input.checked = Boolean(value); };
      return { spec, root, read, write, inputs: [input], note };
    }

    if (spec.type === "choice") {
      const select = el("select", { id, name: spec.name, "aria-describedby": helpId },
        ...spec.choices.map((choice) => el("option", { value: choice.value }, choice.label)));
      select.addEventListener("change", () => changed(true));
      root = el("div", { class: "setting", "data-setting": spec.name },
        el("div", { class: "label-row" }, el("label", { for: id }, spec.label), info), select, note, help);
      read = () => select.value;
      write = (value) => {
        const legacy = (spec.legacy_values || []).find((entry) => entry.value === value);
        select.value = legacy ? legacy.means : value;
      };
      return { spec, root, read, write, inputs: [select], note };
    }

    if (spec.type === "integer_pair") {
      const inputs = spec.parts.map((part) => el("input", {
        type: "number", id: `${id}-${part}`, name: `${spec.name}.${part}`, min: spec.min, max: spec.max,
        step: spec.step || 1, inputmode: "numeric", "aria-describedby": helpId,
      }));
      inputs.forEach((input) => {
        input.addEventListener("input", () => changed(false));
        input.addEventListener("change", () => changed(true));
      });
      const fields = spec.parts.map((part, i) => el("label", { class: "part", for: inputs[i].id },
        `${part}`, inputs[i], spec.unit ? ` ${spec.unit}` : ""));
      root = el("div", { class: "setting", "data-setting": spec.name },
        el("div", { class: "label-row" }, el("span", { class: "label" }, spec.label), info),
        el("div", { class: "pair" }, ...fields), note, help);
      read = () => inputs.map((input) => {
        const v = Math.round(input.valueAsNumber);
        return Number.isFinite(v) ? Math.min(spec.max, Math.max(spec.min, v)) : 0;
      });
      write = (value) => inputs.forEach((input, i) => { input.value = String((value || [0, 0])[i]); });
      return { spec, root, read, write, inputs, note };
    }

    // number or integer: a slider; a nullable one gets an "Automatic" switch
    const range = el("input", { type: "range", id, name: spec.name, min: spec.min, max: spec.max,
      step: spec.step || (spec.type === "integer" ? 1 : 0.01), "aria-describedby": helpId });
    const output = el("output", { for: id, id: `${id}-value` });
    let auto = null;
    range.addEventListener("input", () => { output.textContent = formatValue(spec, read()); changed(false); });
    range.addEventListener("change", () => changed(true));
    const parts = [el("div", { class: "label-row" }, el("label", { for: id }, spec.label), output, info)];
    if (spec.nullable) {
      auto = el("input", { type: "checkbox", id: `${id}-auto`, name: `${spec.name}.auto` });
      auto.addEventListener("change", () => { output.textContent = formatValue(spec, read()); changed(true); });
      parts.push(el("label", { class: "auto", for: auto.id }, auto, " Automatic"));
    }
    parts.push(range, note, help);
    root = el("div", { class: "setting", "data-setting": spec.name }, ...parts);
    read = () => {
      if (auto && auto.checked) return null;
      const v = range.valueAsNumber;
      return spec.type === "integer" ? Math.round(v) : Number(v.toFixed(Math.max(2, digits(spec.step))));
    };
    write = (value) => {
      if (auto) auto.checked = value === null || value === undefined;
      if (value !== null && value !== undefined) range.value = String(value);
      else if (auto) range.value = String(spec.min ?? 0);
      output.textContent = formatValue(spec, read());
    };
    return { spec, root, read, write, inputs: [range], auto, note };
  }

  values() {
    const values = {};
    for (const [name, control] of this.controls) values[name] = control.read();
    return values;
  }

  /** Shows `values` (of a document) in the controls, without calling onChange. */
  setValues(values, placedByHand) {
    for (const [name, control] of this.controls) {
      if (name in values) control.write(values[name]);
    }
    this.placedByHand = Boolean(placedByHand);
    this.refresh();
  }

  /** Dims the controls that have no effect now, and says why. */
  refresh() {
    const values = {};
    for (const [name, control] of this.controls) values[name] = control.read();
    for (const control of this.controls.values()) {
      const { spec } = control;
      let reason = null;
      if (this.placedByHand && PLACEMENT_REPLACES.has(spec.name)) {
        reason = "Not used while you place the product by hand (Reset position to use it).";
      } else if (spec.depends_on) {
        const other = this.specs.get(spec.depends_on.setting);
        if (other && !spec.depends_on.values.includes(values[spec.depends_on.setting])) {
          reason = `Only used when “${other.label}” is not “${labelOf(other, values[other.name])}”.`;
        }
      }
      for (const input of control.inputs) input.disabled = Boolean(reason);
      if (control.auto) {
        control.auto.disabled = Boolean(reason);
        control.inputs[0].disabled = Boolean(reason) || control.auto.checked;
      }
      control.note.textContent = reason || "";
      control.note.hidden = !reason;
      control.root.classList.toggle("inactive", Boolean(reason));
    }
  }
}

function labelOf(spec, value) {
  const choice = (spec.choices || []).find((c) => c.value === value);
  return choice ? choice.label : String(value);
}
