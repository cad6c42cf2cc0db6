"""compose.yaml's structure: it parses, its build contexts exist, and its ports and variables
match the configuration contract (there is no Docker engine here to run it)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from connector.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    return loaded


def _known_variables() -> set[str]:
    names = set()
    for section, field in Settings.model_fields.items():
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        for key in model.model_fields:
            base = f"MEETBRIDGE_{section.upper()}__{key.upper()}"
            names |= {base, f"{base}_FILE"}
    return names


def test_services_and_their_build_contexts() -> None:
    services = _compose()["services"]
    assert {"postgres", "meetbridge-1", "meetbridge-2"} <= set(services)
    for name in ("meetbridge-1", "meetbridge-2"):
        context = services[name]["build"]
        assert (ROOT / context / "Dockerfile").is_file()
    postgres = services["postgres"]
    assert re.fullmatch(r"postgres:\d+\.\d+-\w+", postgres["image"]), "pinned"
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])


def test_replicas_wait_for_a_healthy_database_and_share_it() -> None:
    services = _compose()["services"]
    for name in ("meetbridge-1", "meetbridge-2"):
        service = services[name]
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["environment"]["MEETBRIDGE_STATE__URL_FILE"] == "/run/secrets/state_url"
        assert "state_url" in service["secrets"]
        assert "/config/meetbridge.toml" in service["volumes"][0]


def test_ports_and_variables_match_the_contract() -> None:
    services = _compose()["services"]
    known = _known_variables()
    for name in ("meetbridge-1", "meetbridge-2"):
        service = services[name]
        env = service["environment"]
        assert set(env) <= known, set(env) - known
        internal = int(env["MEETBRIDGE_RECEIVER__PORT"])
        assert internal == Settings.model_fields["receiver"].default_factory().port  # type: ignore[misc]
        assert [p.rsplit(":", 1)[1] for p in service["ports"]] == [str(internal)]
    published = [p for name in ("meetbridge-1", "meetbridge-2") for p in services[name]["ports"]]
    assert len(set(published)) == len(published), "replicas publish distinct host ports"
    for secret in _compose()["secrets"].values():
        assert secret["file"].startswith("./deploy/secrets/")
