"""The committed configuration reference and example match the settings model."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import BaseModel

from connector.config_reference import render
from connector.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_reference_in_docs_is_generated_from_the_model() -> None:
    committed = (ROOT / "docs" / "config-reference.md").read_text(encoding="utf-8")
    assert committed == render(), (
        "docs/config-reference.md is stale: run "
        "`python -m connector.config_reference > docs/config-reference.md`"
    )


def _documented_keys(text: str) -> dict[str, set[str]]:
    """Keys per section, set or shown commented out (`# key = …`) for optional secrets."""
    keys: dict[str, set[str]] = {}
    section = ""
    for line in text.splitlines():
        if match := re.fullmatch(r"\[(\w+)\]", line.strip()):
            section = match.group(1)
        elif match := re.match(r"#? ?(\w+) = ", line):
            keys.setdefault(section, set()).add(match.group(1))
    return keys


def test_the_example_config_names_every_key_and_loads() -> None:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    documented = _documented_keys(text)
    for section, field in Settings.model_fields.items():
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        assert documented[section] == set(model.model_fields), section
    assert set(tomllib.loads(text)) == set(Settings.model_fields)
    load_settings(ROOT / "config.example.toml")
