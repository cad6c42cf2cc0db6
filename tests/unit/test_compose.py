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


def _referenced_secrets(service: dict[str, Any]) -> set[str]:
    return {s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])}


def _referenced_volumes(service: dict[str, Any]) -> set[str]:
    """Named volumes a service mounts (not bind mounts of ./paths or /paths)."""
    names = set()
    for volume in service.get("volumes", []):
        source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
        if source and not source.startswith((".", "/", "~")):
            names.add(source)
    return names


def undeclared(compose: dict[str, Any]) -> list[str]:
    """Secrets and named volumes services use but the file does not declare at the top level."""
    secrets = set(compose.get("secrets") or {})
    volumes = set(compose.get("volumes") or {})
    problems = []
    for name, service in compose["services"].items():
        problems += [f"{name}: secret {s}" for s in sorted(_referenced_secrets(service) - secrets)]
        problems += [f"{name}: volume {v}" for v in sorted(_referenced_volumes(service) - volumes)]
        for variable, value in (service.get("environment") or {}).items():
            if str(value).startswith("/run/secrets/"):
                secret = str(value).removeprefix("/run/secrets/")
                if secret not in _referenced_secrets(service):
                    problems.append(f"{name}: {variable} reads secret {secret} it does not mount")
    return problems


def test_every_secret_and_volume_used_is_declared() -> None:
    assert undeclared(_compose()) == []


def test_the_declaration_check_catches_what_is_missing() -> None:
    broken = {
        "services": {
            "a": {
                "secrets": ["known", {"source": "unknown"}],
                "volumes": ["data:/data", "./x:/x", "other:/y"],
                "environment": {"MEETBRIDGE_X__Y_FILE": "/run/secrets/elsewhere"},
            }
        },
        "secrets": {"known": {"file": "./deploy/secrets/known"}},
        "volumes": {"data": None},
    }
    assert undeclared(broken) == [
        "a: secret unknown",
        "a: volume other",
        "a: MEETBRIDGE_X__Y_FILE reads secret elsewhere it does not mount",
    ]


# Everything secret `run` needs, which must come from secret files, not from the mounted TOML.
SECRET_KEYS = (
    "MEETBRIDGE_MEETMATCH__API_KEY",
    "MEETBRIDGE_MEETMATCH__WEBHOOK_SECRET",
    "MEETBRIDGE_MEETERGO__API_KEY",
    "MEETBRIDGE_RECEIVER__MEETERGO_PATH_TOKEN",
    "MEETBRIDGE_STATE__URL",
)


def test_replicas_take_every_secret_from_a_secret_file() -> None:
    services = _compose()["services"]
    for name in ("meetbridge-1", "meetbridge-2"):
        env = services[name]["environment"]
        for key in SECRET_KEYS:
            assert key not in env, f"{name}: {key} in plain text"
            assert env[f"{key}_FILE"].startswith("/run/secrets/"), f"{name}: {key}_FILE"


def test_deploy_readme_lists_every_secret_file() -> None:
    readme = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    for name, secret in _compose()["secrets"].items():
        assert secret["file"] == f"./deploy/secrets/{name}"
        assert f"`{name}`" in readme, f"deploy/README.md does not list {name}"
