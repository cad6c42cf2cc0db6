"""Structured logs: one JSON line per sync action, never a key or a secret."""

from __future__ import annotations

import io
import json
import logging

from connector import commands
from connector.logs import JsonFormatter
from connector.runtime import Runtime
from connector.sandbox.app import Sandbox


async def test_one_json_line_per_action_and_no_secrets(sandbox: Sandbox, runtime: Runtime) -> None:
    sandbox.meetmatch.add_contact("Lo Gs", "logs@example.com", notify=False)
    sandbox.meetergo.user_create_contact(firstName="Me", email="me@example.com")
    sandbox.meetergo.user_create_contact(firstName="No Email")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        await commands.backfill(runtime)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    actions = [line for line in lines if "action" in line]
    assert {(a["action"], a["vendor"]) for a in actions} == {
        ("create", "meetergo"),
        ("create", "meetmatch"),
        ("skip", "meetergo"),
    }
    assert all(a["source"].split(":")[0] in ("meetmatch", "meetergo") for a in actions)
    text = stream.getvalue()
    for secret in ("mm_live_sandbox", "mg_sandbox", "Bearer"):
        assert secret not in text
