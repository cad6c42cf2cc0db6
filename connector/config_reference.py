"""The configuration reference, generated from the settings model.

`python -m connector.config_reference > docs/config-reference.md` writes it; a test fails when
the committed file and the model differ, so the reference cannot drift from the code.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from connector.settings import Settings

HEADER = """# Configuration reference

Generated from the settings model (`python -m connector.config_reference`); do not edit by hand.

Every key is set in the TOML file given with `--config` (or named by `MEETBRIDGE_CONFIG`), or
by the environment variable shown, which wins over the file. The file is optional: without one,
the environment variables and the defaults below are the whole configuration (a
Kubernetes-style deployment). List and table values take JSON in the environment, e.g.
`MEETBRIDGE_SYNC__DIRECTIONS='["meetergo_to_meetmatch"]'`. Any variable may instead name a file
holding the value with a `_FILE` suffix (`MEETBRIDGE_MEETERGO__API_KEY_FILE=/run/secrets/key`),
as Docker and Kubernetes secrets are mounted. Secrets are never printed or logged.
"""


def _type_name(field: FieldInfo) -> str:
    text = str(field.annotation).replace("typing.", "").replace("pydantic.types.", "")
    text = text.replace("<class '", "").replace("'>", "").replace("connector.settings.", "")
    return text.replace(" | ", " or ")  # a bare | would split the table cell


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    value: Any = field.default
    if value is PydanticUndefined and field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "(secret)"
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def render() -> str:
    lines = [HEADER]
    for section, section_field in Settings.model_fields.items():
        model = section_field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        lines.append(f"## [{section}]\n")
        lines.append(f"{(model.__doc__ or '').strip()}\n")
        lines.append("| key | environment variable | type | default | meaning |")
        lines.append("|---|---|---|---|---|")
        for key, field in model.model_fields.items():
            env = f"MEETBRIDGE_{section.upper()}__{key.upper()}"
            meaning = (field.description or "").replace("|", "\\|")
            lines.append(
                f"| `{key}` | `{env}` | {_type_name(field)} | {_default(field)} | {meaning} |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
