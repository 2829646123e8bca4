"""How partitions are shared among the live members of a consumer, and where a member starts reading them."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError
from hypothesis import given
from hypothesis import strategies as st

from shared.leases import CommittedOffsets, share


@given(st.integers(1, 8), st.integers(1, 24))
def test_every_partition_has_exactly_one_member(members: int, partitions: int) -> None:
    alive = sorted(uuid.uuid4() for _ in range(members))
    shares = [share(alive, range(partitions), m) for m in alive]
    assert sorted(p for s in shares for p in s) == list(range(partitions))
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_a_member_that_is_not_alive_has_no_share() -> None:
    alive = sorted(uuid.uuid4() for _ in range(2))
    assert share(alive, range(6), uuid.uuid4()) == frozenset()


class Reader:
    """What `CommittedOffsets` uses of an AIOKafkaConsumer, and a stand-in for its fetcher: a task that runs whenever
    the event loop does and notes every assigned partition it finds without a position (aiokafka's fetcher would
    then look the position up itself)."""

    def __init__(self, committed: dict[TopicPartition, int]) -> None:
        self.stored = dict(committed)
        self.failing: KafkaError | None = None
        self.lookups = 0
        self.assigned: list[TopicPartition] = []
        self.positions: dict[TopicPartition, int] = {}
        self.seen_without_position: set[TopicPartition] = set()

    async def committed(self, tp: TopicPartition) -> int | None:
        self.lookups += 1
        await asyncio.sleep(0)
        if self.failing:
            raise self.failing
        return self.stored.get(tp)

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        await asyncio.sleep(0)
        return dict.fromkeys(tps, 0)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        await asyncio.sleep(0)
        self.stored.update(offsets)

    def assign(self, tps: list[TopicPartition]) -> None:
        self.assigned, self.positions = list(tps), {}  # aiokafka starts a new assignment without positions

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    async def fetch(self) -> None:
        while True:
            self.seen_without_position |= {tp for tp in self.assigned if tp not in self.positions}
            await asyncio.sleep(0)


async def _adopting(reader: Reader, partitions: list[TopicPartition]) -> CommittedOffsets:
    offsets = CommittedOffsets(reader, every_s=1.0)  # type: ignore[arg-type]
    fetcher = asyncio.create_task(reader.fetch())
    try:
        await offsets.adopt(partitions)
    finally:
        fetcher.cancel()
    return offsets


TPS = [TopicPartition("links", p) for p in range(3)]


async def test_adopted_partitions_are_positioned_at_their_committed_offsets_before_the_fetcher_runs() -> None:
    reader = Reader({TPS[0]: 5, TPS[1]: 0, TPS[2]: 17})
    offsets = await _adopting(reader, TPS)
    assert reader.positions == {TPS[0]: 5, TPS[1]: 0, TPS[2]: 17}
    assert reader.seen_without_position == set()
    assert not offsets.waiting


async def test_a_partition_never_committed_is_read_from_the_log_start_and_that_start_committed() -> None:
    reader = Reader({TPS[0]: 5})
    offsets = await _adopting(reader, TPS[:2])
    assert reader.positions == {TPS[0]: 5, TPS[1]: 0}
    assert reader.stored == {TPS[0]: 5, TPS[1]: 0}, "so that a broker losing it shows"
    assert not offsets.waiting


async def test_when_the_broker_cannot_say_the_partitions_wait_for_the_next_due_commit() -> None:
    reader = Reader({TPS[0]: 5})
    reader.failing = KafkaConnectionError()
    offsets = await _adopting(reader, TPS[:1])
    assert reader.assigned == TPS[:1] and reader.positions == {}
    assert reader.lookups == 1, "no second attempt at once while the broker is away"
    assert offsets.waiting
    reader.failing = None
    await offsets.commit({}, now=True)
    assert reader.positions == {TPS[0]: 5}
    assert not offsets.waiting
