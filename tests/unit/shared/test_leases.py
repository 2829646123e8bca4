"""How partitions are shared among the live members of a consumer."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from shared.leases import share


@given(st.integers(1, 8), st.integers(1, 24))
def test_every_partition_has_exactly_one_member(members: int, partitions: int) -> None:
    alive = sorted(uuid.uuid4() for _ in range(members))
    shares = [share(alive, range(partitions), m) for m in alive]
    assert sorted(p for s in shares for p in s) == list(range(partitions))
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_a_member_that_is_not_alive_has_no_share() -> None:
    alive = sorted(uuid.uuid4() for _ in range(2))
    assert share(alive, range(6), uuid.uuid4()) == frozenset()
