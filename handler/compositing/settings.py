"""Compositing settings: a validated, immutable value built from a JSON-like mapping."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Mapping

from .errors import SettingsError

GRADING_TARGETS = ("surroundings", "area", "image")
CUTOUTS = ("auto", "alpha", "none")
ANCHORS = ("bottom", "center")
BLEND_MODES = ("alpha", "seamless", "auto")
MAX_OFFSET_PX = 20000


@dataclass(frozen=True)
class CompositeSettings:
    """How the new product is cut out, placed, graded and blended.

    scale: size relative to the fit into the mask's bounding box (0.5-2.0).
    feather: width in px of the soft edge around the product (0-30; 0 = hard edge).
    color_grading / color_strength: pull the product's Lab mean and spread toward the
        grading_target by this fraction (0 = unchanged, 1 = matched).
    grading_target: "surroundings" (a ring of scene around the mask), "area" (the old
        product's pixels) or "image" (the whole scene).
    cutout: "auto" (alpha if it has real transparency, else separate the product from its
        background), "alpha" (alpha as given) or "none" (the whole rectangle).
    remove_old: fill the old product's mask from its surroundings.
    anchor: "bottom" (product stands on the mask's lowest row) or "center".
    offset: (dx, dy) in scene px, added after anchoring.
    blend_mode: "alpha", "seamless" (Poisson) or "auto" (seamless when lighting differs a lot).
    shadow: strength of a soft contact shadow under a bottom-anchored product (0-1).
    """

    scale: float = 1.0
    feather: int = 15
    color_grading: bool = True
    color_strength: float = 0.5
    grading_target: str = "surroundings"
    cutout: str = "auto"
    remove_old: bool = True
    anchor: str = "bottom"
    offset: tuple[int, int] = (0, 0)
    blend_mode: str = "alpha"
    shadow: float = 0.0

    def __post_init__(self) -> None:
        _check_number("scale", self.scale, 0.5, 2.0)
        _check_whole_number("feather", self.feather, 0, 30)
        _check_bool("color_grading", self.color_grading)
        _check_number("color_strength", self.color_strength, 0.0, 1.0)
        _check_choice("grading_target", self.grading_target, GRADING_TARGETS)
        _check_choice("cutout", self.cutout, CUTOUTS)
        _check_bool("remove_old", self.remove_old)
        _check_choice("anchor", self.anchor, ANCHORS)
        _check_offset(self.offset)
        _check_choice("blend_mode", self.blend_mode, BLEND_MODES)
        _check_number("shadow", self.shadow, 0.0, 1.0)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "CompositeSettings":
        """Settings from decoded JSON; missing keys take their defaults.

        Raises SettingsError for unknown keys, wrong types (bools only as JSON booleans,
        numbers never bool/NaN/inf) and out-of-range values. `offset` may be a list.
        """
        if not isinstance(values, Mapping):
            raise SettingsError("settings", "settings must be an object")
        known = {f.name for f in fields(cls)}
        for key in values:
            if key not in known:
                raise SettingsError(
                    str(key), f"settings.{key} is not a setting; known: {', '.join(sorted(known))}")
        given = dict(values)
        if isinstance(given.get("offset"), list):
            given["offset"] = tuple(given["offset"])
        if "feather" in given and _is_real(given["feather"]) and float(given["feather"]).is_integer():
            given["feather"] = int(given["feather"])
        return cls(**given)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_number(name: str, value: Any, low: float, high: float) -> None:
    if not (_is_real(value) and math.isfinite(value) and low <= value <= high):
        raise SettingsError(name, f"settings.{name} must be a number from {low} to {high}")


def _check_whole_number(name: str, value: Any, low: int, high: int) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
        raise SettingsError(name, f"settings.{name} must be a whole number from {low} to {high}")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise SettingsError(name, f"settings.{name} must be true or false")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise SettingsError(name, f"settings.{name} must be one of: {', '.join(choices)}")


def _check_offset(value: Any) -> None:
    ok = (isinstance(value, tuple) and len(value) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) and abs(v) <= MAX_OFFSET_PX
                  for v in value))
    if not ok:
        raise SettingsError(
            "offset", f"settings.offset must be two whole numbers [dx, dy], each from "
                      f"-{MAX_OFFSET_PX} to {MAX_OFFSET_PX} px")
