"""What each part of a running service last reported about itself; `/readyz` is false while any part is down."""

from __future__ import annotations

import time
from dataclasses import dataclass

from prometheus_client import Gauge

DOWN = Gauge("component_down", "1 while a consumer or background task of the service cannot do its work", ["component"])


@dataclass(frozen=True)
class Problem:
    reason: str
    since: float  # time.time()


class Health:
    """One per service runtime. Consumers and supervised tasks report here; the readiness probe reads it."""

    def __init__(self) -> None:
        self._down: dict[str, Problem] = {}

    def down(self, component: str, reason: str) -> None:
        if component not in self._down:
            self._down[component] = Problem(reason[:500], time.time())
            DOWN.labels(component).set(1)
        else:
            self._down[component] = Problem(reason[:500], self._down[component].since)

    def up(self, component: str) -> None:
        if self._down.pop(component, None) is not None:
            DOWN.labels(component).set(0)

    def problems(self) -> dict[str, str]:
        """Every component that is down, with its latest reason and for how long."""
        now = time.time()
        return {name: f"{p.reason} (for {now - p.since:.0f} s)" for name, p in sorted(self._down.items())}

    @property
    def ok(self) -> bool:
        return not self._down
