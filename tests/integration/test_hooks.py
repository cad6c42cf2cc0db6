"""Webhook subscriptions across restarts and receiver URL changes, against the sandbox."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from connector.clients.retry import RetryPolicy
from connector.hooks import ensure_subscriptions
from connector.runtime import open_runtime
from connector.sandbox.app import Sandbox
from connector.settings import Settings

TOKENS = ["a" * 16 + "0123456789abcdefghijklmnop", "b" * 16 + "0123456789abcdefghijklmnop"]


async def _sync(sandbox: Sandbox, settings: Settings) -> None:
    transport = httpx.ASGITransport(app=sandbox.app)
    async with open_runtime(settings, transport=transport, retry=RetryPolicy.no_wait()) as rt:
        await ensure_subscriptions(rt)


async def test_a_new_token_or_url_replaces_the_old_subscriptions(
    sandbox: Sandbox, make_settings: Callable[..., Settings]
) -> None:
    other = "https://other.example.com/in"
    someone_elses = sandbox.meetergo.add_webhook(other, ["booking_created"])
    for n, (url, token) in enumerate(
        [
            ("https://sync.example.com", TOKENS[0]),
            ("https://sync.example.com", TOKENS[0]),  # a restart: nothing new
            ("https://sync.example.com", TOKENS[1]),  # the path token rotated
            ("https://hooks.example.org", TOKENS[1]),  # the receiver moved
        ]
    ):
        await _sync(
            sandbox, make_settings(receiver={"public_url": url, "meetergo_path_token": token})
        )
        webhooks = sandbox.meetergo.webhook_list()
        ours = [w for w in webhooks if w["id"] != someone_elses["id"]]
        assert [w["endpoint"] for w in ours] == [f"{url}/hooks/meetergo/{token}"], n
        assert someone_elses["id"] in {w["id"] for w in webhooks}  # never touched
        hooks = sandbox.meetmatch.hook_list()
        assert len(hooks) == 5, n
        assert {h["target_url"] for h in hooks} == {f"{url}/hooks/meetmatch"}, n
