"""Eligibility's link store in memory: links by (authority, procedure), standings by authority."""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from services.eligibility.domain import Link, LinkKey, Standing


class Links:
    def __init__(self) -> None:
        self.links: dict[LinkKey, Link] = {}
        self.standings: dict[str, Standing] = {}

    async def lock_standings(self, conn: Any, authority_ids: Collection[str]) -> dict[str, Standing]:  # noqa: ARG002
        return {a: copy.copy(self.standings[a]) for a in authority_ids if a in self.standings}

    async def load_links(self, conn: Any, keys: Iterable[LinkKey]) -> dict[LinkKey, Link]:  # noqa: ARG002
        return {k: copy.copy(self.links[k]) for k in keys if k in self.links}

    async def save_links(self, conn: Any, links: Mapping[LinkKey, Link]) -> None:  # noqa: ARG002
        self.links.update(links)

    async def save_standings(self, conn: Any, standings: Mapping[str, Standing]) -> None:  # noqa: ARG002
        self.standings.update(standings)

    def counted(self, authority_id: str) -> int:
        return sum(1 for (a, _), link in self.links.items() if a == authority_id and link.linked and link.counted)
