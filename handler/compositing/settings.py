"""Compositing settings: each one declared once, with its type, default, range, unit, help
and group; validation and the JSON schema the web page and the CLI build their controls
from are both derived from those declarations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from .errors import SettingsError

MAX_OFFSET_PX = 20000   # how far a product may be moved or placed, in scene px either way


@dataclass(frozen=True)
class Spec:
    """What one setting accepts and how a control for it is drawn.

    kind: "number" (float), "integer", "boolean", "choice" (a string from `choices`),
      "integer_pair" (two whole numbers named by `parts`) or "box" (four whole numbers
      [x0, y0, x1, y1], scene px, x1/y1 exclusive, with x0 < x1 and y0 < y1).
    minimum/maximum: inclusive range of a number, or of each part of a pair or box.
    step: the natural increment of a control (a slider's step).
    choices: (value, label) pairs of a "choice".
    null_means: when set, null (None) is accepted and means this (e.g. "automatic").
    legacy_booleans: for a "choice" that used to be a boolean: what true and false mean now.
    depends_on: (setting, values): the setting only has an effect while that other setting
      has one of these values (a page may dim it otherwise).
    """

    kind: str
    label: str
    help: str
    group: str = "advanced"
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    unit: str | None = None
    choices: tuple[tuple[str, str], ...] = ()
    null_means: str | None = None
    legacy_booleans: tuple[str, str] | None = None
    parts: tuple[str, ...] = ()
    depends_on: tuple[str, tuple[Any, ...]] | None = None


def setting(default: Any, spec: Spec) -> Any:
    """A dataclass field carrying its Spec."""
    return field(default=default, metadata={"spec": spec})


@dataclass(frozen=True)
class CompositeSettings:
    """How the new product is cut out, placed, matched to the scene and blended.

    Build it from decoded JSON with from_mapping (or directly, with the same values); every
    field is validated, and legacy values are normalised (color_grading true/false become
    "lighting"/"off", whole floats become ints, lists become tuples). settings_schema()
    describes every field for user interfaces.
    """

    scale: float = setting(1.0, Spec(
        "number", "Size", "How big the new product is compared with the one it replaces: 1 fits it "
        "into the old product's outline, 2 makes it twice as big.",
        group="basic", minimum=0.5, maximum=2.0, step=0.05, unit="×"))
    offset: tuple[int, int] = setting((0, 0), Spec(
        "integer_pair", "Move", "Moves the product right (dx) and down (dy) from where it is "
        "placed; negative values move it left and up.",
        group="basic", minimum=-MAX_OFFSET_PX, maximum=MAX_OFFSET_PX, step=1, unit="px",
        parts=("dx", "dy")))
    rotation: float = setting(0.0, Spec(
        "number", "Rotate", "Turns the product about its centre, clockwise (negative values: "
        "anticlockwise). It keeps its size and still stands where it is placed.",
        group="basic", minimum=-180.0, maximum=180.0, step=1.0, unit="°"))
    flip: bool = setting(False, Spec(
        "boolean", "Mirror", "Shows the product mirrored left to right.", group="basic"))
    shadow: float = setting(0.0, Spec(
        "number", "Shadow", "Strength of a soft shadow where the product stands (0 = none). Drawn "
        "when the product stands on the old product's base (anchor: bottom) or is given a "
        "box (placement).",
        group="basic", minimum=0.0, maximum=1.0, step=0.05))
    color_grading: str = setting("lighting", Spec(
        "choice", "Match the scene",
        "How the product is adjusted to the scene. Lighting keeps the product's own colours "
        "(brand colours stay true) and only adapts its brightness, contrast and a slight "
        "white balance; Full also moves its colours toward the scene's; Off leaves it as uploaded.",
        group="basic",
        choices=(("lighting", "Lighting only (keeps brand colours)"),
                 ("full", "Lighting and colours"), ("off", "Off")),
        legacy_booleans=("lighting", "off")))
    remove_old: bool = setting(True, Spec(
        "boolean", "Remove the old product",
        "Paints the background over the old product first, so no part of it shows around the "
        "new one.", group="basic"))
    remove_margin: int = setting(6, Spec(
        "integer", "Removal margin",
        "How far past the old product's outline its place is repainted, so that its soft edge "
        "and any halo go too. In px of the stored scene (its longer side at most 1280 px); the "
        "same value covers the same part of the photo at any output size.",
        minimum=0, maximum=30, step=1, unit="px", depends_on=("remove_old", (True,))))
    feather: int | None = setting(None, Spec(
        "integer", "Edge softness",
        "Width of the soft fade just outside the product's outline, which hides a jagged cut "
        "edge. Automatic suits the product's size on screen; the product itself is never "
        "blurred. 0 gives a hard edge.",
        minimum=0, maximum=30, step=1, unit="px",
        null_means="automatic: about 1 px per 400 px of the product's shorter side on screen, "
                   "at least 1 px"))
    color_strength: float = setting(0.5, Spec(
        "number", "Matching strength",
        "How far the product is adjusted toward the scene: 0 not at all, 1 fully.",
        minimum=0.0, maximum=1.0, step=0.05, depends_on=("color_grading", ("lighting", "full"))))
    grading_target: str = setting("surroundings", Spec(
        "choice", "Match to",
        "Which part of the scene the product is matched to.",
        choices=(("surroundings", "The area around the old product"),
                 ("area", "The old product itself"), ("image", "The whole scene")),
        depends_on=("color_grading", ("lighting", "full"))))
    cutout: str = setting("auto", Spec(
        "choice", "Product background",
        "How the product is separated from its own background. Automatic uses the image's "
        "transparency, or removes a plain backdrop; on a busy backdrop it keeps the whole "
        "image and says so.",
        choices=(("auto", "Automatic"), ("alpha", "Use the image's transparency"),
                 ("none", "Keep the whole image"))))
    anchor: str = setting("bottom", Spec(
        "choice", "Stand on",
        "Bottom: the new product stands where the old one stood. Centre: it is centred on the "
        "old one.",
        choices=(("bottom", "The old product's base"), ("center", "The old product's centre"))))
    placement: tuple[int, int, int, int] | None = setting(None, Spec(
        "box", "Product box",
        "Puts the product in this box of the scene instead: it is made as large as fits inside "
        "it and centred, keeping its proportions. Size, Move and Stand on are then not used.",
        minimum=-MAX_OFFSET_PX, maximum=MAX_OFFSET_PX, step=1, unit="px", parts=("x0", "y0", "x1", "y1"),
        null_means="none: the product takes the old product's place (Size, Move and Stand on)"))
    blend_mode: str = setting("alpha", Spec(
        "choice", "Blending",
        "Normal pastes the product as it is. Seamless also lets the scene's light fall on the "
        "product's rim so it sits in the scene (its colours inside stay as they are). "
        "Automatic uses seamless when the product is much lighter or darker than its "
        "surroundings.",
        choices=(("alpha", "Normal"), ("seamless", "Seamless edge"), ("auto", "Automatic"))))

    def __post_init__(self) -> None:
        for item in fields(self):
            spec = item.metadata["spec"]
            value = _normalised(spec, getattr(self, item.name))
            _check(item.name, spec, value)
            object.__setattr__(self, item.name, value)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "CompositeSettings":
        """Settings from decoded JSON; missing keys take their defaults.

        Raises SettingsError for unknown keys, wrong types (bools only as JSON booleans,
        numbers never bool/NaN/inf) and out-of-range values.
        """
        if not isinstance(values, Mapping):
            raise SettingsError("settings", "settings must be an object")
        known = {item.name for item in fields(cls)}
        for key in values:
            if key not in known:
                raise SettingsError(
                    str(key), f"settings.{key} is not a setting; known: {', '.join(sorted(known))}")
        return cls(**values)


def settings_schema() -> list[dict[str, Any]]:
    """Every setting as a JSON-ready dict, in the order a form should show them.

    Keys: name, type (a Spec kind), label, help, group ("basic" | "advanced"), default
    (JSON value; null where null_means says what null does); and where they apply: min, max,
    step, unit, choices ([{value, label}]), nullable + null_means, legacy_values
    ([{value, means}]), parts (names of a pair's or box's numbers), depends_on
    ({setting, values}).
    """
    schema = []
    for item in fields(CompositeSettings):
        spec: Spec = item.metadata["spec"]
        default = list(item.default) if isinstance(item.default, tuple) else item.default
        entry: dict[str, Any] = {"name": item.name, "type": spec.kind, "label": spec.label,
                                 "help": spec.help, "group": spec.group, "default": default}
        optional = {"min": spec.minimum, "max": spec.maximum, "step": spec.step, "unit": spec.unit}
        entry.update({key: value for key, value in optional.items() if value is not None})
        if spec.choices:
            entry["choices"] = [{"value": value, "label": label} for value, label in spec.choices]
        if spec.null_means is not None:
            entry["nullable"] = True
            entry["null_means"] = spec.null_means
        if spec.legacy_booleans is not None:
            entry["legacy_values"] = [{"value": True, "means": spec.legacy_booleans[0]},
                                      {"value": False, "means": spec.legacy_booleans[1]}]
        if spec.parts:
            entry["parts"] = list(spec.parts)
        if spec.depends_on is not None:
            entry["depends_on"] = {"setting": spec.depends_on[0], "values": list(spec.depends_on[1])}
        schema.append(entry)
    return schema


def _normalised(spec: Spec, value: Any) -> Any:
    """The value in its canonical form, when it is an accepted alternative spelling."""
    if spec.legacy_booleans is not None and isinstance(value, bool):
        return spec.legacy_booleans[0] if value else spec.legacy_booleans[1]
    if spec.kind == "integer" and _is_real(value) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    if spec.kind in ("integer_pair", "box") and isinstance(value, list):
        return tuple(value)
    return value


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_whole(value: Any, spec: Spec) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)
            and spec.minimum <= value <= spec.maximum)


def _check(name: str, spec: Spec, value: Any) -> None:
    if value is None and spec.null_means is not None:
        return
    if spec.kind == "number":
        ok = _is_real(value) and math.isfinite(value) and spec.minimum <= value <= spec.maximum
        wanted = f"a number from {spec.minimum} to {spec.maximum}"
    elif spec.kind == "integer":
        ok = _is_whole(value, spec)
        wanted = f"a whole number from {spec.minimum} to {spec.maximum}"
    elif spec.kind == "boolean":
        ok, wanted = isinstance(value, bool), "true or false"
    elif spec.kind == "choice":
        ok = isinstance(value, str) and value in dict(spec.choices)
        wanted = f"one of: {', '.join(value for value, _ in spec.choices)}"
        if spec.legacy_booleans is not None:
            wanted += f" (true and false still mean {spec.legacy_booleans[0]} and {spec.legacy_booleans[1]})"
    elif spec.kind == "integer_pair":
        ok = isinstance(value, tuple) and len(value) == 2 and all(_is_whole(v, spec) for v in value)
        wanted = (f"two whole numbers [{', '.join(spec.parts)}], each from {spec.minimum} to "
                  f"{spec.maximum} {spec.unit}")
    elif spec.kind == "box":
        ok = (isinstance(value, tuple) and len(value) == 4 and all(_is_whole(v, spec) for v in value)
              and value[0] < value[2] and value[1] < value[3])
        wanted = (f"four whole numbers [{', '.join(spec.parts)}], each from {spec.minimum} to "
                  f"{spec.maximum} {spec.unit}, with {spec.parts[0]} < {spec.parts[2]} and "
                  f"{spec.parts[1]} < {spec.parts[3]}")
    else:
        raise AssertionError(f"unknown setting kind {spec.kind!r}")
    if not ok:
        if spec.null_means is not None:
            wanted += f", or null ({spec.null_means.split(':')[0]})"
        raise SettingsError(name, f"settings.{name} must be {wanted}")
