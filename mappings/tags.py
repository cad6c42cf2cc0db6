"""Tag lists as meetergo treats them: free-form labels that people type in any case."""

from __future__ import annotations

from collections.abc import Iterable


def merge_tags(*lists: Iterable[str]) -> tuple[str, ...]:
    """All tags of `lists` in order, each once, compared case-insensitively.

    The first spelling wins so that a tag someone typed as "VIP" is not rewritten to "vip" by a
    later list; that rewrite would be a change to sync and echo back.
    """
    seen: set[str] = set()
    merged: list[str] = []
    for tags in lists:
        for tag in tags:
            key = tag.casefold()
            if key not in seen:
                seen.add(key)
                merged.append(tag)
    return tuple(merged)
