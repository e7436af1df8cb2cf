"""settings_schema(): what a user interface builds its controls from, and that it agrees with
what CompositeSettings accepts."""
from __future__ import annotations

import json
from dataclasses import fields

import pytest

from handler.compositing import CompositeSettings, SettingsError, settings_schema

SCHEMA = settings_schema()
BY_NAME = {entry["name"]: entry for entry in SCHEMA}


def entries_of(*types: str) -> list[dict]:
    return [entry for entry in SCHEMA if entry["type"] in types]


def test_schema_describes_every_setting_once():
    assert [entry["name"] for entry in SCHEMA] == [item.name for item in fields(CompositeSettings)]


def test_schema_is_json():
    assert json.loads(json.dumps(SCHEMA)) == SCHEMA


@pytest.mark.parametrize("entry", SCHEMA, ids=lambda entry: entry["name"])
def test_every_entry_has_a_label_help_and_group(entry):
    assert entry["label"] and len(entry["help"]) > 20
    assert entry["group"] in ("basic", "advanced")
    assert entry["type"] in ("number", "integer", "boolean", "choice", "integer_pair", "box")


def test_schema_defaults_are_the_settings_defaults():
    defaults = {name: entry["default"] for name, entry in BY_NAME.items()}
    assert CompositeSettings.from_mapping(defaults) == CompositeSettings()


@pytest.mark.parametrize("entry", entries_of("number", "integer"), ids=lambda entry: entry["name"])
def test_number_range_in_schema_is_the_range_accepted(entry):
    name, low, high = entry["name"], entry["min"], entry["max"]
    assert getattr(CompositeSettings.from_mapping({name: low}), name) == low
    assert getattr(CompositeSettings.from_mapping({name: high}), name) == high
    for outside in (low - entry["step"], high + entry["step"]):
        with pytest.raises(SettingsError, match=f"from {low} to {high}"):
            CompositeSettings.from_mapping({name: outside})


@pytest.mark.parametrize("entry", entries_of("choice"), ids=lambda entry: entry["name"])
def test_every_choice_in_schema_is_accepted_and_nothing_else(entry):
    for choice in entry["choices"]:
        assert getattr(CompositeSettings.from_mapping({entry["name"]: choice["value"]}), entry["name"]) == choice["value"]
    with pytest.raises(SettingsError):
        CompositeSettings.from_mapping({entry["name"]: "something else"})


def test_offset_range_is_the_real_one():
    offset = BY_NAME["offset"]
    assert (offset["min"], offset["max"], offset["parts"]) == (-20000, 20000, ["dx", "dy"])
    assert CompositeSettings.from_mapping({"offset": [-20000, 20000]}).offset == (-20000, 20000)
    with pytest.raises(SettingsError, match="from -20000 to 20000 px"):
        CompositeSettings.from_mapping({"offset": [20001, 0]})


def test_feather_defaults_to_automatic_expressed_as_null():
    feather = BY_NAME["feather"]
    assert feather["default"] is None and feather["nullable"] is True
    assert feather["null_means"].startswith("automatic")
    assert CompositeSettings.from_mapping({"feather": None}).feather is None


def test_feather_error_says_null_is_allowed():
    with pytest.raises(SettingsError, match=r"from 0 to 30, or null \(automatic\)"):
        CompositeSettings.from_mapping({"feather": 31})


def test_color_grading_defaults_to_lighting():
    assert BY_NAME["color_grading"]["default"] == "lighting"
    assert [c["value"] for c in BY_NAME["color_grading"]["choices"]] == ["lighting", "full", "off"]


@pytest.mark.parametrize("legacy, meaning", [(True, "lighting"), (False, "off")])
def test_color_grading_still_accepts_booleans(legacy, meaning):
    assert CompositeSettings.from_mapping({"color_grading": legacy}).color_grading == meaning
    assert {"value": legacy, "means": meaning} in BY_NAME["color_grading"]["legacy_values"]


def test_strength_and_target_depend_on_grading_being_on():
    for name in ("color_strength", "grading_target"):
        assert BY_NAME[name]["depends_on"] == {"setting": "color_grading", "values": ["lighting", "full"]}
