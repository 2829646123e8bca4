"""The outbox, in memory: what a handler published, in order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.events import Event


class Outbox:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, conn: Any, events: Sequence[Event]) -> None:  # noqa: ARG002 - no transaction here
        self.events.extend(events)

    def types(self) -> list[str]:
        return [e.event_type for e in self.events]
