"""The legal provisions a finding may concern (reports/legal.toml: data, not template code)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class Provision:
    """A legal provision a finding may concern, in the report's language."""

    id: str
    jurisdiction: str
    title: str
    concern: str
    allowed: str
    kinds: tuple[str, ...]
    outcomes: tuple[str, ...]
    readings: tuple[str, ...] = ()  # personalisation readings it may concern
    undisclosed_only: bool = False  # concerns prices the consumer was not told were personalised


@lru_cache(maxsize=None)
def provisions(language: str) -> tuple[Provision, ...]:
    """The legal mapping from reports/legal.toml (data, not template code)."""
    text = (resources.files("reports") / "legal.toml").read_text(encoding="utf-8")
    return tuple(
        Provision(id=p["id"], jurisdiction=p["jurisdiction"], title=p["title"][language],
                  concern=p["concern"][language], allowed=p["allowed"][language],
                  kinds=tuple(p["kinds"]), outcomes=tuple(p["outcomes"]), readings=tuple(p.get("readings", ())),
                  undisclosed_only=bool(p.get("undisclosed_only", False)))
        for p in tomllib.loads(text)["provision"]
    )


def for_reading(reading: str, language: str, disclosed: bool) -> tuple[Provision, ...]:
    """The provisions a personalisation reading may concern: for purchases disclosed as personalised,
    not those that concern only prices the consumer was not told about."""
    return tuple(p for p in provisions(language) if reading in p.readings and not (disclosed and p.undisclosed_only))
