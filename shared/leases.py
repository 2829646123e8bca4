"""Partitions shared out in the service's database instead of by a Kafka consumer group (KAFKA_ASSIGNMENT=leases).

A consumer group makes every start wait for a join (Tansu answers after at least a second, Apache Kafka after its
`group.initial.rebalance.delay.ms`) and stops all members at every rebalance. Here the members of a consumer
register in the service's database and share the topic's partitions by a fixed rule (the live members sorted by
id; partition i to member i mod n):
- a member lives while its process's dedicated connection does and renews its row; a process that died is gone at
  the next heartbeat of another, one that froze after `KAFKA_SESSION_TIMEOUT_MS`;
- every heartbeat (`KAFKA_HEARTBEAT_INTERVAL_MS`) a process gives up what is no longer its members' share and
  claims what is and whose holder is gone, so the members converge within a heartbeat or two of a change;
- every batch's transaction locks its partitions' lease rows and checks that they are still its member's (`fence`):
  a process that froze and lost them cannot write; its transaction rolls back and the new holder reads the batch.
Offsets stay where a group keeps them: committed to Kafka under the group id (a consumer with a manual assignment
commits without joining; at most every `CONSUMER_COMMIT_EVERY_S` while reading, at once after an assignment and at
a graceful stop), so a broker that comes back without its log, `deploy.drain` and a replay under a new group id
behave as with a group (`CommittedOffsets`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Collection
from datetime import timedelta

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from prometheus_client import Gauge

from shared.db import Wakeup
from shared.faults import UNREACHABLE
from shared.settings import Settings
from shared.topics import partitions_of

log = structlog.get_logger(__name__)

Connect = Callable[[], Awaitable[asyncpg.Connection]]
HELD = Gauge("consumer_partitions_held", "partitions this process's members hold", ["consumer", "topic"])

_RENEW = """
INSERT INTO consumer_member (consumer, topic, member, backend_pid, until)
SELECT $1, $2, unnest($3::uuid[]), pg_backend_pid(), now() + $4::interval
ON CONFLICT (consumer, topic, member) DO UPDATE SET backend_pid = excluded.backend_pid, until = excluded.until
"""
# The dead: run out (froze), or their process's connection is gone (died).
_PRUNE = """
DELETE FROM consumer_member m WHERE m.consumer = $1 AND m.topic = $2
  AND (m.until < now() OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = m.backend_pid))
"""
_MEMBERS = "SELECT member FROM consumer_member WHERE consumer = $1 AND topic = $2 ORDER BY member"
_LEASES = "SELECT partition, member FROM partition_lease WHERE consumer = $1 AND topic = $2"
_RELEASE = """
DELETE FROM partition_lease WHERE consumer = $1 AND topic = $2 AND member = $3 AND NOT (partition = ANY($4::int[]))
"""
# Free, or held by a member that is gone (checked again here: it may have renewed since the look).
_CLAIM = """
INSERT INTO partition_lease AS l (consumer, topic, partition, member)
SELECT $1, $2, unnest($3::int[]), $4
ON CONFLICT (consumer, topic, partition) DO UPDATE SET member = excluded.member
WHERE NOT EXISTS (SELECT 1 FROM consumer_member m WHERE m.consumer = l.consumer AND m.topic = l.topic
                                                    AND m.member = l.member)
"""
_LEAVE = """
WITH gone AS (DELETE FROM consumer_member WHERE consumer = $1 AND topic = $2 AND member = ANY($3::uuid[]))
DELETE FROM partition_lease WHERE consumer = $1 AND topic = $2 AND member = ANY($3::uuid[])
"""
_LOCK_TIMEOUT = "SET LOCAL lock_timeout = '2s'"
# Locks the batch's lease rows until its commit (a claim waits for it) and counts those still the member's.
_FENCE = """
SELECT count(*) FROM (
    SELECT 1 FROM partition_lease WHERE consumer = $1 AND topic = $2 AND member = $3 AND partition = ANY($4::int[])
    FOR SHARE
) held
"""


class PartitionsLost(Exception):
    """A batch's partitions are no longer this member's (its process froze, or lost the database, for too long)."""


def share(members: list[uuid.UUID], partitions: Collection[int], member: uuid.UUID) -> frozenset[int]:
    """The partitions that are `member`'s when `members` (sorted) are alive."""
    if member not in members:
        return frozenset()
    i, n = members.index(member), len(members)
    return frozenset(p for k, p in enumerate(sorted(partitions)) if k % n == i)


class Membership:
    """The members of one consumer in this process, their heartbeat, and the partitions each holds.

    `run` is a supervised task: it holds a dedicated connection (whose life is the members' life), renews the
    members, and moves leases. Member loops read `held(member)` between batches and `fence` inside each batch's
    transaction.
    """

    def __init__(self, consumer: str, topic: str, settings: Settings, members: int) -> None:
        self.consumer = consumer  # the group id
        self.topic = topic  # the logical topic
        self.settings = settings
        self.members = [uuid.uuid4() for _ in range(members)]
        self.interval_s = settings.kafka_heartbeat_interval_ms / 1000
        self.timeout = timedelta(milliseconds=settings.kafka_session_timeout_ms)
        self._held: dict[uuid.UUID, frozenset[int]] = {m: frozenset() for m in self.members}
        self._changed = asyncio.Event()
        self._round = Wakeup()  # `hurry` ends the wait for the next heartbeat
        self._known: list[int] = []
        self.started = asyncio.Event()  # set by the first heartbeat

    def held(self, member: uuid.UUID) -> frozenset[int]:
        return self._held[member]

    async def changed(self, timeout: float) -> None:
        """Until the next heartbeat changed what some member holds, at most `timeout` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    def hurry(self) -> None:
        """Run the next heartbeat now (a member lost partitions it thought it held)."""
        self._round.set()

    async def fence(self, conn: asyncpg.Connection, member: uuid.UUID, partitions: Collection[int]) -> None:
        """Inside a batch's transaction: the partitions are still `member`'s until the commit, or PartitionsLost."""
        wanted = sorted(set(partitions))
        if await conn.fetchval(_FENCE, self.consumer, self.topic, member, wanted) != len(wanted):
            raise PartitionsLost(f"{self.consumer} member {member} no longer holds {self.topic} {wanted}")

    async def run(self, connect: Connect, beat: Callable[[], None]) -> None:
        """Heartbeats until cancelled (then the members leave and give their partitions back at once). A failed
        heartbeat raises, for the supervisor to restart this task; the members read on meanwhile, their
        transactions fenced by the leases as they stand."""
        conn = await connect()
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.bootstrap_list, request_timeout_ms=10_000)
        try:
            await admin.start()
            while True:
                await self.heartbeat(conn, await self._partitions(admin))
                beat()
                await self._round.sleep(self.interval_s)
        except asyncio.CancelledError:
            self._set({m: frozenset() for m in self.members})
            with contextlib.suppress(*UNREACHABLE, asyncpg.PostgresError):
                await asyncio.wait_for(conn.execute(_LEAVE, self.consumer, self.topic, self.members), 2)
            raise
        finally:
            conn.terminate()
            await admin.close()

    def lost(self, member: uuid.UUID, partitions: Collection[int]) -> None:
        """A member's transaction found these partitions taken: it stops reading them until a heartbeat says more."""
        self._set({**self._held, member: self._held[member] - set(partitions)})

    async def _partitions(self, admin: AIOKafkaAdminClient) -> list[int]:
        """The topic's partitions; while the broker cannot say (or has no such topic: a broker that came back empty),
        the last known."""
        topic = self.settings.topic(self.topic)
        try:
            async with asyncio.timeout(self.interval_s):  # a broker that hangs must not hold up the renewal
                found = (await partitions_of(admin, [topic])).get(topic)
            if found:
                self._known = found
        except UNREACHABLE as exc:
            if not self._known:
                raise
            log.warning("partitions_unknown", consumer=self.consumer, topic=self.topic, error=repr(exc))
        return self._known

    async def heartbeat(self, conn: asyncpg.Connection, partitions: list[int]) -> None:
        """Renew this process's members, forget the dead, give up and claim partitions, read what each holds."""
        async with conn.transaction():
            await conn.execute(_RENEW, self.consumer, self.topic, self.members, self.timeout)
            await conn.execute(_PRUNE, self.consumer, self.topic)
            alive = [r["member"] for r in await conn.fetch(_MEMBERS, self.consumer, self.topic)]
            holders = {r["partition"]: r["member"] for r in await conn.fetch(_LEASES, self.consumer, self.topic)}
        try:
            held = await self._move(conn, partitions, alive, holders)
        except asyncpg.LockNotAvailableError:  # a claimed row is locked by a transaction of a frozen process
            log.info("partition_claim_waiting", consumer=self.consumer, topic=self.topic)
            return
        self._set(held)
        self.started.set()

    async def _move(self, conn: asyncpg.Connection, partitions: list[int], alive: list[uuid.UUID],
                    holders: dict[int, uuid.UUID]) -> dict[uuid.UUID, frozenset[int]]:
        async with conn.transaction():
            await conn.execute(_LOCK_TIMEOUT)
            shares = {member: share(alive, partitions, member) for member in self.members}
            for member, mine in shares.items():
                await conn.execute(_RELEASE, self.consumer, self.topic, member, sorted(mine))
                holders = {p: h for p, h in holders.items() if h != member or p in mine}
            for member, mine in shares.items():
                if free := sorted(p for p in mine if holders.get(p) not in alive):  # no lease, or its holder is gone
                    await conn.execute(_CLAIM, self.consumer, self.topic, free, member)
            held: dict[uuid.UUID, set[int]] = {m: set() for m in self.members}
            for r in await conn.fetch(_LEASES, self.consumer, self.topic):
                if r["member"] in held:
                    held[r["member"]].add(r["partition"])
        return {m: frozenset(ps) for m, ps in held.items()}

    def _set(self, held: dict[uuid.UUID, frozenset[int]]) -> None:
        if held != self._held:
            log.info("partitions_assigned", consumer=self.consumer, topic=self.topic,
                     members={str(m)[:8]: sorted(ps) for m, ps in held.items()})
            self._held = held
            HELD.labels(self.consumer, self.topic).set(sum(map(len, held.values())))
            self._changed.set()
            self._changed = asyncio.Event()


class CommittedOffsets:
    """The offsets a member commits to Kafka under the group id, and what it last committed per partition.

    Before each commit it reads the broker's committed offsets: if they moved under it (a broker that came back
    without its state has none; an operator may have reset them; a replaced member may have committed late), it
    reads on from them, or from the log's beginning where there are none, as a group member does after a rejoin.
    A partition taken over without a committed offset gets the log's beginning committed, so that losing it shows.

    While it reads, a member commits at most every `every_s` (two round trips to the broker, 10-50 ms on Tansu under
    load, which held up the next fetch after every batch). A successor starts from Kafka's committed offsets and
    reads again what was applied since (about `every_s` and the batch in hand; more while commits fail), which the
    consumers drop: by event id, or idempotent by state.
    """

    def __init__(self, reader: AIOKafkaConsumer, *, every_s: float) -> None:
        self.reader = reader
        self.every_s = every_s
        self.last = float("-inf")  # monotonic time of the last commit attempt
        self.expected: dict[TopicPartition, int] = {}  # what the broker should hold, as this member left it
        self.unsaved: dict[TopicPartition, int] = {}  # applied, not yet committed (not due yet, or it failed)
        self.restart: set[TopicPartition] = set()  # to be read from the broker's committed offsets

    @property
    def waiting(self) -> bool:
        """Applied offsets not committed yet (not due, or the broker was away), or a restart still to be done."""
        return bool(self.unsaved or self.restart)

    async def adopt(self, partitions: Collection[TopicPartition]) -> None:
        """Assign the reader these partitions; those new to this member are read from their committed offsets.

        Their committed offsets are looked up before the assignment and set in the same step (no await between),
        so the reader's fetcher never has to find them itself: at a start, where the group's coordinator is not
        known yet, its own look-up failed once and it fetched only after aiokafka's retry backoff (100 ms). Where
        the look-up fails, or finds no committed offset, the partition is read as before: from the committed offset
        or the log's beginning, at the next commit (at once, unless the look-up has just failed)."""
        self.expected = {tp: o for tp, o in self.expected.items() if tp in partitions}
        self.unsaved = {tp: o for tp, o in self.unsaved.items() if tp in partitions}
        new = sorted(tp for tp in partitions if tp not in self.expected or tp in self.restart)
        found: dict[TopicPartition, int | None] = {}
        away = False
        try:
            async with asyncio.timeout(5.0):
                for tp in new:  # one at a time: nothing is left running when one fails
                    found[tp] = await self.reader.committed(tp)
        except (KafkaError, TimeoutError) as exc:
            log.warning("committed_offsets_unknown", error=repr(exc))
            found, away = {}, True
        self.reader.assign(sorted(partitions))
        for tp, committed in found.items():
            if committed is not None:
                self.reader.seek(tp, committed)
                self.expected[tp] = committed
        self.restart = {tp for tp in new if found.get(tp) is None}
        if away:  # the broker cannot answer now: the restart waits for the next commit that is due
            self.last = time.monotonic()
        else:
            await self.commit({}, now=True)

    async def commit(self, offsets: dict[TopicPartition, int], timeout_s: float = 5.0, *, now: bool = False) -> None:
        """After a batch, and again while `waiting`: sent when `every_s` has passed since the last time, or `now`."""
        self.unsaved.update(offsets)
        if not now and time.monotonic() - self.last < self.every_s:
            return
        self.last = time.monotonic()
        try:
            async with asyncio.timeout(timeout_s):  # a coordinator being found again must not hold up the reading
                await self._check_and_commit()
        except (KafkaError, TimeoutError) as exc:  # applied and stored in PostgreSQL; Kafka hears it with the next
            log.warning("offset_commit_failed", error=repr(exc))

    async def _check_and_commit(self) -> None:
        found = await asyncio.gather(*(self.reader.committed(tp) for tp in self.unsaved))
        for tp, committed in zip(list(self.unsaved), found, strict=True):
            if tp in self.expected and committed != self.expected[tp]:
                log.warning("committed_offset_moved", topic=tp.topic, partition=tp.partition,
                            left=self.expected[tp], found=committed)
                del self.unsaved[tp], self.expected[tp]
                self.restart.add(tp)
        for tp in sorted(self.restart):
            await self._from_committed(tp)
            self.restart.discard(tp)
        if self.unsaved:
            await self.reader.commit(self.unsaved)
            self.expected.update(self.unsaved)
            self.unsaved = {}

    async def _from_committed(self, tp: TopicPartition) -> None:
        committed = await self.reader.committed(tp)
        if committed is None:
            committed = (await self.reader.beginning_offsets([tp]))[tp]
            await self.reader.commit({tp: committed})
        self.reader.seek(tp, committed)
        self.expected[tp] = committed
