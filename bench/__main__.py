"""`make bench`: the system's rates beside this machine's limits, measured side by side in one run.

Every figure is a rate measured here and now; the targets are ratios between figures of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench import cpu, pvog_feed
from deploy.local_stack import TANSU_CONSUMER_TIMEOUTS
from harness import infra
from harness.builders import change
from harness.processes import ServiceProcess, env_for, measured_commit
from services.ingest import xzufi
from shared import db
from shared.authorities import registry
from shared.events import Procedure, ProcedureLinked
from shared.settings import Settings
from shared.signature import portal_signature as sign
from shared.topics import ensure_topics

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
T0 = datetime(2026, 11, 20, tzinfo=UTC)
# Link events for the throughput figures: enough that each rate is measured over several seconds, not a few batches.
EVENTS = 300_000


def link_events(n: int, seed: int = 7) -> list[ProcedureLinked]:
    """Link events spread over every authority, as a realistic mix: mostly online, some information pages."""
    rnd = random.Random(seed)
    keys = [a.key for a in registry()]
    out = []
    for i in range(n):
        authority = rnd.choice(keys)
        kind = "online" if rnd.random() < 0.85 else "information"
        out.append(
            ProcedureLinked(
                authority_id=authority,
                correlation_id="bench",
                occurred_at=T0 + timedelta(milliseconds=i),
                change_id=f"bench-{i}",
                procedure=Procedure(id=f"p-{rnd.randrange(120)}", name="Verfahren", scope="municipal", kind=kind),
            )
        )
    return out


async def raw_produce(settings: Settings, topic: str, payloads: list[tuple[bytes, bytes]]) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_list, acks="all", enable_idempotence=False, linger_ms=2
    )
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [await producer.send(topic, value=v, key=k) for k, v in payloads]
        await asyncio.gather(*futures)
        return len(payloads) / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def raw_consume(settings: Settings, topic: str, n: int) -> float:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_list, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen = 0
        started = time.perf_counter()
        while seen < n:
            batch = await consumer.getmany(timeout_ms=500, max_records=5_000)
            for records in batch.values():
                for r in records:
                    json.loads(r.value)
                seen += len(records)
        return n / (time.perf_counter() - started)
    finally:
        await consumer.stop()


BARE_SETUP = """
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;
CREATE TABLE bench.link (authority_id text, procedure_id text, linked boolean, counted boolean,
                         occurred_at timestamptz, PRIMARY KEY (authority_id, procedure_id));
CREATE TABLE bench.count (authority_id text PRIMARY KEY, count int NOT NULL);
CREATE TABLE bench.seen (event_id uuid PRIMARY KEY);
"""
BARE_APPLY = """
WITH fresh AS (
    INSERT INTO bench.seen SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id
), up AS (
    INSERT INTO bench.link AS l
    SELECT DISTINCT ON (a, p) a, p, true, c, t
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::boolean[], $5::timestamptz[]) AS u(e, a, p, c, t)
    WHERE e IN (SELECT event_id FROM fresh)
    ORDER BY a, p, t DESC
    ON CONFLICT (authority_id, procedure_id) DO UPDATE
    SET linked = excluded.linked, counted = excluded.counted, occurred_at = excluded.occurred_at
    WHERE excluded.occurred_at > l.occurred_at
    RETURNING authority_id
)
INSERT INTO bench.count AS c (authority_id, count)
SELECT l.authority_id, count(*) FILTER (WHERE l.linked AND l.counted)
FROM bench.link l WHERE l.authority_id IN (SELECT DISTINCT authority_id FROM up)
GROUP BY l.authority_id
ON CONFLICT (authority_id) DO UPDATE SET count = excluded.count
"""


async def sql_limit(url: str, events: list[ProcedureLinked], batch: int = 1_000) -> float:
    """The bare set-based SQL that applies link events (dedupe, upsert, recount touched): the database's limit."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(BARE_SETUP)
        started = time.perf_counter()
        for i in range(0, len(events), batch):
            chunk = events[i : i + batch]
            async with conn.transaction():
                await conn.execute(
                    BARE_APPLY,
                    [e.event_id for e in chunk],
                    [e.authority_id for e in chunk],
                    [e.procedure.id for e in chunk],
                    [e.procedure.kind == "online" for e in chunk],
                    [e.occurred_at for e in chunk],
                )
        return len(events) / (time.perf_counter() - started)
    finally:
        await conn.close()


NAIVE_STEPS = (
    "INSERT INTO bench.seen VALUES ($1) ON CONFLICT DO NOTHING RETURNING event_id",
    """INSERT INTO bench.link AS l VALUES ($1, $2, true, $3, $4)
       ON CONFLICT (authority_id, procedure_id) DO UPDATE SET linked = true,
       counted = excluded.counted, occurred_at = excluded.occurred_at
       WHERE excluded.occurred_at > l.occurred_at""",
    "SELECT count(*) FROM bench.link WHERE authority_id = $1 AND linked AND counted",
    """INSERT INTO bench.count VALUES ($1, $2)
       ON CONFLICT (authority_id) DO UPDATE SET count = excluded.count""",
)


async def naive(settings: Settings, url: str, n: int) -> float:
    """The handler batching must beat: a FastStream subscriber taking one message at a time, one transaction
    per event (dedupe, upsert, recount), its offset committed after each message."""
    from faststream import AckPolicy
    from faststream.kafka import KafkaBroker

    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    await pool.execute(BARE_SETUP)
    done = asyncio.Event()
    seen = 0
    marks: list[float] = []
    broker = KafkaBroker(settings.bootstrap_list, acks="all", enable_idempotence=False, logger=None)

    @broker.subscriber(
        settings.topic("portal.procedure-links.v1"), group_id="bench.naive", auto_offset_reset="earliest",
        ack_policy=AckPolicy.ACK, session_timeout_ms=6_000, heartbeat_interval_ms=500,
    )
    async def on_link(body: dict) -> None:
        nonlocal seen
        e = ProcedureLinked.model_validate(body)
        async with pool.acquire() as conn, conn.transaction():
            if await conn.fetchval(NAIVE_STEPS[0], e.event_id) is not None:
                await conn.execute(NAIVE_STEPS[1], e.authority_id, e.procedure.id, e.procedure.kind == "online", e.occurred_at)
                count = await conn.fetchval(NAIVE_STEPS[2], e.authority_id)
                await conn.execute(NAIVE_STEPS[3], e.authority_id, count)
        seen += 1
        if seen == 1:
            marks.append(time.perf_counter())
        if seen >= n:
            marks.append(time.perf_counter())
            done.set()

    await broker.start()
    try:
        await asyncio.wait_for(done.wait(), 600)
    finally:
        await broker.stop()
        await pool.execute("DROP SCHEMA IF EXISTS bench CASCADE")
        await pool.close()
    return (n - 1) / (marks[1] - marks[0])


APPLIED = 'SELECT coalesce(sum("offset" + 1), 0)::bigint FROM eligibility.consumer_offset'


async def progress_until(conn: asyncpg.Connection, n: int, limit_s: float = 600) -> tuple[float, float, int, float]:
    """Poll eligibility's committed offsets until `n` events are applied: (time of the first commit after the call,
    end time, events applied at that commit, the longest time without progress after it)."""
    deadline = time.monotonic() + limit_s
    before = await conn.fetchval(APPLIED)
    first: tuple[float, int] | None = None
    last_change, last_done, stall = 0.0, -1, 0.0
    while (done := await conn.fetchval(APPLIED)) < n:
        now = time.perf_counter()
        if done != last_done:
            if first is not None:
                stall = max(stall, now - last_change)
            last_change, last_done = now, done
        if first is None and done > before:
            first = (now, done)
        if time.monotonic() > deadline:
            raise RuntimeError(f"eligibility did not apply {n} events within {limit_s:.0f} s")
        await asyncio.sleep(0.02)
    ended = time.perf_counter()
    if first is None:  # everything was applied before the first look
        return ended, ended, n, 0.0
    return first[0], ended, first[1], max(stall, ended - last_change)


async def catch_up_after_restart(settings: Settings, log_dir: Path, payloads: list[tuple[bytes, bytes]],
                                 backlog: int = 200_000) -> dict[str, float]:
    """Eligibility runs, stops as in a deploy, and comes back to `backlog` waiting events: the rate from its start
    (its imports included; under KAFKA_ASSIGNMENT=group, the group's join too) to the last event, and the longest
    pause between commits while it catches up."""
    topic = settings.topic("portal.procedure-links.v1")
    warm = min(20_000, len(payloads) // 10)
    await raw_produce(settings, topic, payloads[:warm])
    first = ServiceProcess("eligibility", settings, log_dir)
    first.start()
    conn = await asyncpg.connect(settings.database_url)
    try:
        await first.ready(timeout=120)
        await progress_until(conn, warm)
        first.stop()
        waiting = payloads[warm : warm + backlog]
        await raw_produce(settings, topic, waiting)
        second = ServiceProcess("eligibility", settings, log_dir)
        started = time.perf_counter()
        second.start()
        try:
            first_commit, ended, first_done, stall = await progress_until(conn, warm + len(waiting))
        finally:
            second.stop()
    finally:
        await conn.close()
    return {"catch_up_events": float(len(waiting)), "catch_up_per_s": len(waiting) / (ended - started),
            "catch_up_first_commit_s": first_commit - started, "catch_up_longest_pause_s": stall,
            # once the process has started and joined: how fast it works through the backlog
            "catch_up_after_first_commit_per_s": (warm + len(waiting) - first_done) / (ended - first_commit)}


async def eligibility_rate(settings: Settings, n: int, log_dir: Path, processes: int = 1) -> float:
    """Events/s from portal.procedure-links.v1 to stored counts, through `processes` real eligibility processes in
    one consumer group (the Kubernetes manifests run two)."""
    procs = [ServiceProcess("eligibility", settings, log_dir) for _ in range(processes)]
    for proc in procs:
        proc.start()
    try:
        await asyncio.gather(*(proc.ready(timeout=120) for proc in procs))
        conn = await asyncpg.connect(settings.database_url)
        try:
            first, ended, first_done, _ = await progress_until(conn, n)
        finally:
            await conn.close()
        # Timed from the first committed batch, so the consumer group's join is not counted.
        return (n - first_done) / (ended - first)
    finally:
        for proc in procs:
            proc.stop()


async def ingest_rate(settings: Settings, n: int, log_dir: Path, batch: int = 1_000, concurrency: int = 4,
                      processes: int = 1) -> float:
    """Changes/s accepted durably (202) through the signed feed API, in batches of 1,000; with `processes` ingest
    processes the clients take turns among them, as behind the Kubernetes Service (the manifests run two)."""
    rnd = random.Random(11)
    keys = [a.key for a in registry()]
    bodies = []
    for b in range(n // batch):
        changes = [change(rnd.choice(keys), f"p-{rnd.randrange(150)}", minute=b) for _ in range(batch)]
        bodies.append(json.dumps({"changes": changes}).encode())
    procs = [ServiceProcess("ingest", settings, log_dir) for _ in range(processes)]
    for proc in procs:
        proc.start()
    try:
        await asyncio.gather(*(proc.ready(timeout=120) for proc in procs))
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for body in bodies:
            queue.put_nowait(body)

        async def worker(client: httpx.AsyncClient) -> None:
            while not queue.empty():
                body = queue.get_nowait()
                r = await client.post(
                    "/v1/portal/changes", content=body,
                    headers={"content-type": "application/json", "X-Portal-Signature": sign(body, settings.feed_secret.get_secret_value())},
                )
                if r.status_code != 202:
                    raise RuntimeError(f"ingest answered {r.status_code}: {r.text[:200]}")

        clients = [httpx.AsyncClient(base_url=procs[i % processes].url, timeout=120) for i in range(concurrency)]
        try:
            started = time.perf_counter()
            await asyncio.gather(*(worker(client) for client in clients))
            return len(bodies) * batch / (time.perf_counter() - started)
        finally:
            await asyncio.gather(*(client.aclose() for client in clients))
    finally:
        for proc in procs:
            proc.stop()


def bavaria_feed(target: int, seed: int = 5) -> tuple[list[dict], dict[str, int]]:
    """The demo feed for every authority, then churn (unlinks and re-links) up to `target` changes; with the
    counts it must end in (latest change per link wins)."""
    from deploy.demo import build_feed

    changes = list(build_feed().changes)
    rnd = random.Random(seed)
    linked = [(c["authority_id"], c["procedure"]) for c in changes]
    n = 0
    while len(changes) < target:
        authority, procedure = rnd.choice(linked)
        n += 1
        action = "unlinked" if rnd.random() < 0.5 else "linked"
        changes.append({
            "change_id": f"churn-{n}", "occurred_at": f"2025-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:{(n // 60) % 60:02d}Z",
            "action": action, "authority_id": authority,
            "procedure": procedure if action == "linked" else {"id": procedure["id"]},
        })
    latest: dict[tuple[str, str], dict] = {}
    for c in changes:
        key = (c["authority_id"], c["procedure"]["id"])
        if key not in latest or (c["occurred_at"], c["change_id"]) > (latest[key]["occurred_at"], latest[key]["change_id"]):
            latest[key] = c
    want: dict[str, int] = {}
    for (authority, _), c in latest.items():
        p = c["procedure"]
        if c["action"] == "linked" and p["kind"] == "online" and p["scope"] in ("municipal", "central"):
            want[authority] = want.get(authority, 0) + 1
    return changes, want


async def post_all(url: str, secret: str, changes: list[dict], batch: int = 1_000, concurrency: int = 4) -> None:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for i in range(0, len(changes), batch):
        queue.put_nowait(json.dumps({"changes": changes[i : i + batch]}).encode())

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            r = await client.post("/v1/portal/changes", content=body, headers={
                "content-type": "application/json", "X-Portal-Signature": sign(body, secret)})
            if r.status_code != 202:
                raise RuntimeError(f"ingest answered {r.status_code}: {r.text[:200]}")

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def whole_system(base: Settings, server: str, log_dir: Path, scale: float) -> dict[str, float]:
    """The whole of Bavaria from first POST to last count, then latency at a steady 200 changes/s, and peak RSS."""
    async with scratch(base, server, "sys") as settings, four_services(settings, log_dir) as procs:
        secret = settings.feed_secret.get_secret_value()  # type: ignore[union-attr]
        changes, want = bavaria_feed(int(250_000 * scale))
        conn = await asyncpg.connect(settings.database_url)
        started = time.perf_counter()
        await post_all(procs["ingest"].url, secret, changes)
        out = {"bavaria_replay_s": await counts_reach(conn, want, started, limit_s=900),
               "bavaria_changes": float(len(changes))}
        out.update(await public_pages(procs["notify"].url, procs["eligibility"].url))
        out.update(await refusal_flood(procs["ingest"].url, secret))
        latencies = sorted(await steady_latency(settings, procs["ingest"].url, secret, conn))
        out["latency_p50_ms"] = latencies[len(latencies) // 2]
        out["latency_p99_ms"] = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        out["latency_samples"] = float(len(latencies))
        await conn.close()
        out.update({key.removeprefix("system_"): v for key, v in peak_rss(procs, "system").items()})
        out["max_rss_mb"] = max(out[f"rss_{s}_mb"] for s in procs)
    return out


async def scratch_settings(base: Settings, server: str, prefix: str) -> tuple[Settings, str]:
    """Settings on a database of its own and topics of their own (dropped by `drop_scratch`)."""
    name = f"da_bench_{prefix}_{uuid.uuid4().hex[:8]}"
    url = db.with_database(server, name)
    await db.ensure_database(url)
    settings = base.model_copy(update={"database_url": url, "kafka_topic_prefix": f"{prefix}{name[-8:]}.",
                                       "kafka_group_prefix": f"{prefix}{name[-8:]}."})
    await ensure_topics(settings)
    return settings, name


async def drop_scratch(server: str, name: str) -> None:
    admin = await asyncpg.connect(db.with_database(server, "postgres"))
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@contextlib.asynccontextmanager
async def scratch(base: Settings, server: str, prefix: str) -> AsyncIterator[Settings]:
    """Settings on a database and topics of their own for the length of the block."""
    settings, name = await scratch_settings(base, server, prefix)
    try:
        yield settings
    finally:
        await drop_scratch(server, name)


async def counts_reach(conn: asyncpg.Connection, want: dict[str, int], started: float, limit_s: float = 1_800) -> float:
    """Seconds from `started` until eligibility's stored counts are exactly `want`."""
    while {r["authority_id"]: r["count"] for r in await conn.fetch(
            "SELECT authority_id, count FROM eligibility.authority_count WHERE count > 0")} != want:
        if time.perf_counter() - started > limit_s:
            raise RuntimeError(f"the counts did not reach the oracle within {limit_s:.0f} s")
        await asyncio.sleep(0.2)
    return time.perf_counter() - started


def parse_rate(pages: list[Path], ties: int) -> float:
    """Zuständigkeiten per second of the XZuFi parser alone over the feed, page by page as the sync reads it."""
    started = time.perf_counter()
    for page in pages:
        xzufi.parse(page.read_bytes())
    return ties / (time.perf_counter() - started)


async def written(conn: asyncpg.Connection, tag: str, wal_start: str, ties: int) -> dict[str, float]:
    """What the sync wrote, free of the machine's speed: WAL bytes per Zuständigkeit (everything PostgreSQL wrote,
    vacuum included, since `wal_start`), the database's size and ingest's outbox within it."""
    wal = await conn.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn)", wal_start)
    database = await conn.fetchval("SELECT pg_database_size(current_database())")
    outbox = await conn.fetchval("SELECT pg_total_relation_size('ingest.outbox')")
    return {f"{tag}_wal_bytes_per_tie": float(wal) / ties, f"{tag}_database_mb": database / 2**20,
            f"{tag}_outbox_mb": outbox / 2**20}


async def pvog_full_sync(base: Settings, server: str, log_dir: Path, size: float) -> dict[str, float]:
    """A full `pvog-sync` of Bavaria from index 0: first request to the last count equal to the oracle."""
    tag = f"pvog_{size:g}x"
    with tempfile.TemporaryDirectory(prefix="pvog-") as tmp:
        feed = pvog_feed.generate(Path(tmp), size)
        untimed_parse_per_s = await asyncio.to_thread(parse_rate, feed.pages, feed.ties)
        out = {f"{tag}_ties": float(feed.ties), f"{tag}_pages": float(len(feed.pages)),
               f"{tag}_xml_mb": sum(p.stat().st_size for p in feed.pages) / 2**20,
               f"{tag}_parse_per_s": untimed_parse_per_s}
        settings, name = await scratch_settings(base, server, "pvog")
        procs = {s: ServiceProcess(s, settings, log_dir) for s in ("ingest", "eligibility")}
        try:
            for proc in procs.values():
                proc.start()
            await asyncio.gather(*(proc.ready(timeout=120) for proc in procs.values()))
            conn = await asyncpg.connect(settings.database_url)
            wal_start = await conn.fetchval("SELECT pg_current_wal_lsn()::text")
            async with pvog_feed.feed_server(feed.pages) as first_url:
                started = time.perf_counter()
                command = [sys.executable, "-m", "services.ingest", "pvog-sync", "--url", first_url]
                if profiler := os.environ.get("BENCH_PY_SPY"):  # a profile of the sync (its RSS and CPU are then py-spy's)
                    command = [profiler, "record", "--format", "raw", "-r", "200", "-o", str(log_dir / f"{tag}-sync.prof"),
                               "--", *command]
                sync = subprocess.Popen(
                    command, cwd=ROOT,
                    env=env_for(settings, PVOG_URL=first_url), stdout=subprocess.PIPE,
                    stderr=(log_dir / f"{tag}-sync.log").open("wb"),
                )
                pids = {"sync": sync.pid, **{s: p.proc.pid for s, p in procs.items() if p.proc}}
                meter = cpu.CpuMeter(settings.database_url, pids)
                async with meter.running():
                    sync_peak_mb = 0.0
                    while sync.poll() is None:  # the process's own high-water mark, read while it lives
                        with contextlib.suppress(OSError, ValueError):
                            sync_peak_mb = max(sync_peak_mb, peak_rss_mb(sync.pid))
                        await asyncio.sleep(0.1)
                    if sync.returncode != 0:
                        raise RuntimeError(f"pvog-sync exited with {sync.returncode}; see {log_dir / (tag + '-sync.log')}")
                    out[f"{tag}_sync_s"] = time.perf_counter() - started
                    out[f"{tag}_end_to_end_s"] = await counts_reach(conn, feed.expected, started)
            out.update(await written(conn, tag, wal_start, feed.ties))
            await conn.close()
            out.update(cpu.breakdown(meter.totals(), tag, feed.ties, out[f"{tag}_end_to_end_s"], "tie"))
            out[f"{tag}_per_s"] = feed.ties / out[f"{tag}_end_to_end_s"]
            out[f"{tag}_vs_parse"] = out[f"{tag}_per_s"] / untimed_parse_per_s
            out[f"{tag}_sync_rss_mb"] = sync_peak_mb
            for s, proc in procs.items():
                assert proc.proc is not None
                out[f"{tag}_rss_{s}_mb"] = peak_rss_mb(proc.proc.pid)
        finally:
            for proc in procs.values():
                proc.stop()
            await drop_scratch(server, name)
    print(f"bench: {tag}: {feed.ties:,} Zuständigkeiten in {len(feed.pages)} pages, "
          f"{out[f'{tag}_per_s']:,.0f}/s end to end, parser alone {untimed_parse_per_s:,.0f}/s", flush=True)
    return out


@contextlib.asynccontextmanager
async def four_services(settings: Settings, log_dir: Path) -> AsyncIterator[dict[str, ServiceProcess]]:
    eligibility = ServiceProcess("eligibility", settings, log_dir)
    procs = {
        "ingest": ServiceProcess("ingest", settings, log_dir),
        "eligibility": eligibility,
        "awards": ServiceProcess("awards", settings, log_dir, ELIGIBILITY_URL=eligibility.url),
        "notify": ServiceProcess("notify", settings, log_dir, SMTP_PORT="9", ELIGIBILITY_URL=eligibility.url),
    }
    try:
        for p in procs.values():
            p.start()
        await asyncio.gather(*(p.ready(timeout=120) for p in procs.values()))
        yield procs
    finally:
        for p in procs.values():
            p.stop()


def peak_rss(procs: dict[str, ServiceProcess], tag: str) -> dict[str, float]:
    out = {}
    for s, proc in procs.items():
        assert proc.proc is not None
        out[f"{tag}_rss_{s}_mb"] = peak_rss_mb(proc.proc.pid)
    return out


async def replay_at(base: Settings, server: str, log_dir: Path, size: float) -> dict[str, float]:
    """The Bavaria replay (250,000 changes at 1x) with all four services: seconds to the oracle, peak RSS each."""
    tag = f"replay_{size:g}x"
    async with scratch(base, server, "replay") as settings, four_services(settings, log_dir) as procs:
        changes, want = bavaria_feed(int(250_000 * size))
        conn = await asyncpg.connect(settings.database_url)
        started = time.perf_counter()
        await post_all(procs["ingest"].url, settings.feed_secret.get_secret_value(), changes)  # type: ignore[union-attr]
        out = {f"{tag}_changes": float(len(changes)), f"{tag}_s": await counts_reach(conn, want, started)}
        await conn.close()
        out.update(peak_rss(procs, tag))
    print(f"bench: {tag}: {len(changes):,} changes in {out[f'{tag}_s']:.1f} s", flush=True)
    return out


SIZES = (0.25, 1.0, 4.0)


async def scaling(base: Settings, server: str, log_dir: Path, scale: float) -> dict[str, float]:
    """The Bavaria replay and the PVOG sync at a quarter, the whole and four times Bavaria: time and peak RSS."""
    out: dict[str, float] = {}
    for size in SIZES:
        out.update(await replay_at(base, server, log_dir, size * scale))
        out.update(await pvog_full_sync(base, server, log_dir, size * scale))
    for tag, time_key in (("replay", "s"), ("pvog", "end_to_end_s")):
        one, four = out.get(f"{tag}_{scale:g}x_{time_key}"), out.get(f"{tag}_{4 * scale:g}x_{time_key}")
        if one and four:
            out[f"{tag}_time_4x_over_1x"] = four / one
        for service in ("ingest", "eligibility", "awards", "notify", "sync"):
            key = f"rss_{service}_mb" if service != "sync" else "sync_rss_mb"
            one, four = out.get(f"{tag}_{scale:g}x_{key}"), out.get(f"{tag}_{4 * scale:g}x_{key}")
            if one and four:
                out[f"{tag}_{key}_4x_over_1x"] = four / one
    one, four = out.get(f"pvog_{scale:g}x_cpu_us_per_tie"), out.get(f"pvog_{4 * scale:g}x_cpu_us_per_tie")
    if one and four:  # time per Zuständigkeit grows by this and by how well the cores are used
        out["pvog_cpu_per_tie_4x_over_1x"] = four / one
    return out


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def public_pages(notify_url: str, eligibility_url: str, rounds: int = 200) -> dict[str, float]:
    """p50/p99 of every public page over the Bavaria data, one client at a time, after one warm-up request each;
    and eligibility's advice query alone (its target is 50 ms at p99)."""
    keys = [a.key for a in registry()]
    rnd = random.Random(11)
    pages = {
        "listing": lambda: "/",
        "authority": lambda: f"/behoerden/{rnd.choice(keys)}",
        "search": lambda: f"/behoerden?q={rnd.choice(['kitz', 'markt', 'würz', '0916', 'bad'])}",
        "statistics": lambda: "/statistik",
        "statistics_json": lambda: "/v1/statistics.json",
        "listing_csv": lambda: "/v1/listing.csv",
    }
    out: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=notify_url, timeout=30) as http:
        for name, path in pages.items():
            await http.get(path())
            samples = []
            for _ in range(rounds):
                started = time.perf_counter()
                r = await http.get(path())
                samples.append((time.perf_counter() - started) * 1000)
                assert r.status_code == 200, (name, r.status_code)
            out[f"page_{name}_p50_ms"], out[f"page_{name}_p99_ms"] = percentile(samples, 0.5), percentile(samples, 0.99)
    out["page_max_p99_ms"] = max(v for k, v in out.items() if k.endswith("_p99_ms"))
    async with httpx.AsyncClient(base_url=eligibility_url, timeout=30) as http:
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            r = await http.get(f"/v1/authorities/{rnd.choice(keys)}/advice")
            samples.append((time.perf_counter() - started) * 1000)
            assert r.status_code == 200
        out["advice_p50_ms"], out["advice_p99_ms"] = percentile(samples, 0.5), percentile(samples, 0.99)
    return out


async def refusal_flood(ingest_url: str, secret: str, good: int = 100, bad: int = 1_000) -> dict[str, float]:
    """Signed requests' latency alone, then while another client sends `bad` requests with wrong signatures in a
    row: refusing them must not slow the good ones down (reported as a ratio, not asserted)."""
    async def post_good(http: httpx.AsyncClient, n: int, tag: str) -> list[float]:
        samples = []
        for i in range(n):
            body = json.dumps({"changes": [change("09675141", f"flood-{tag}-{i}", minute=3)]}).encode()
            started = time.perf_counter()
            r = await http.post("/v1/portal/changes", content=body, headers={
                "content-type": "application/json", "X-Portal-Signature": sign(body, secret)})
            samples.append((time.perf_counter() - started) * 1000)
            assert r.status_code == 202
        return samples

    async def post_bad(http: httpx.AsyncClient) -> int:
        refused = 0
        body = json.dumps({"changes": [change("09675141", "flood-bad", minute=3)]}).encode()
        for _ in range(bad):
            r = await http.post("/v1/portal/changes", content=body, headers={
                "content-type": "application/json", "X-Portal-Signature": "sha256=" + "0" * 64})
            refused += r.status_code == 401
        return refused

    async with httpx.AsyncClient(base_url=ingest_url, timeout=30) as a, httpx.AsyncClient(base_url=ingest_url, timeout=30) as b:
        alone = await post_good(a, good, "alone")
        during, refused = await asyncio.gather(post_good(a, good, "flood"), post_bad(b))
    return {"good_alone_p50_ms": percentile(alone, 0.5), "good_during_flood_p50_ms": percentile(during, 0.5),
            "flood_slowdown": percentile(during, 0.5) / percentile(alone, 0.5), "bad_refused": float(refused)}


async def steady_latency(settings: Settings, ingest_url: str, secret: str, conn: asyncpg.Connection,
                         seconds: float = 12.0, rate: int = 200) -> list[float]:
    """From ingest's 202 to ThresholdCrossed on its topic, at a steady `rate` changes/s."""
    counts = {r["authority_id"]: r["count"] for r in await conn.fetch("SELECT authority_id, count FROM eligibility.authority_count")}
    below = [a.key for a in registry() if a.kind != "bezirk" and counts.get(a.key, 0) < 40][: int(seconds * 10) + 5]
    filler = [a.key for a in registry() if a.kind != "bezirk" and counts.get(a.key, 0) < 40][len(below):]
    prep = [change(a, f"lat-{i}", minute=1) for a in below for i in range(49 - counts.get(a, 0))]
    await post_all(ingest_url, secret, prep)
    while await conn.fetchval("SELECT count(*) FROM eligibility.authority_count WHERE authority_id = ANY($1) AND count = 49", below) < len(below):
        await asyncio.sleep(0.2)

    topic = settings.topic("eligibility.thresholds.v1")
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_list, enable_auto_commit=False, fetch_max_wait_ms=5)
    await consumer.start()
    await consumer.topics()
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    seen: dict[str, float] = {}

    async def listen() -> None:
        while True:
            for records in (await consumer.getmany(timeout_ms=50)).values():
                now = time.perf_counter()
                for r in records:
                    e = json.loads(r.value)
                    if e["event_type"] == "ThresholdCrossed":
                        seen.setdefault(e["authority_id"], now)

    listener = asyncio.create_task(listen())
    acked: dict[str, float] = {}
    rnd = random.Random(3)
    per_tick = rate // 20
    async with httpx.AsyncClient(base_url=ingest_url, timeout=30) as client:
        started = time.perf_counter()
        tick = 0
        while time.perf_counter() - started < seconds:
            batch = [change(rnd.choice(filler), f"fill-{tick}-{i}", minute=2) for i in range(per_tick - 1)]
            crossing = below[tick // 2] if tick % 2 == 0 and tick // 2 < len(below) else None
            batch.append(change(crossing, "lat-49", minute=2) if crossing else change(rnd.choice(filler), f"fill-{tick}-x", minute=2))
            body = json.dumps({"changes": batch}).encode()
            r = await client.post("/v1/portal/changes", content=body, headers={
                "content-type": "application/json", "X-Portal-Signature": sign(body, secret)})
            if crossing and r.status_code == 202:
                acked[crossing] = time.perf_counter()
            tick += 1
            await asyncio.sleep(max(0.0, started + tick * 0.05 - time.perf_counter()))
    deadline = time.perf_counter() + 10
    while set(acked) - set(seen) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    listener.cancel()
    await consumer.stop()
    return [(seen[a] - acked[a]) * 1000 for a in acked if a in seen]


async def quix_peer(settings: Settings, payloads: list[tuple[bytes, bytes]], n: int) -> float | str:
    """The Quix Streams peer on the same broker and events (input topic with retention.ms, as Tansu needs)."""
    import tempfile

    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    quix_python = os.environ.get("QUIX_PYTHON", str(ROOT / ".venv-quix" / "bin" / "python"))
    if not Path(quix_python).exists():
        return "not installed (make bench creates .venv-quix)"
    topic = settings.topic("quix.links")
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_list)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=settings.kafka_partitions, replication_factor=1,
                                            topic_configs={"retention.ms": str(7 * 24 * 3600 * 1000)})])
    finally:
        await admin.close()
    await raw_produce(settings, topic, payloads[:n])
    with tempfile.TemporaryDirectory() as state_dir:
        proc = await asyncio.create_subprocess_exec(
            quix_python, str(ROOT / "bench" / "quix_peer.py"), settings.kafka_bootstrap_servers, topic, str(n), state_dir,
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 900)
    if proc.returncode != 0:
        return f"failed: {err.decode()[-300:]}"
    return float(json.loads(out.decode().strip().splitlines()[-1])["quix_per_s"])


PARTS = ("limits", "eligibility", "quix", "catchup", "ingest", "system", "pvog", "scaling")
DEFAULT_PARTS = ("limits", "eligibility", "quix", "catchup", "ingest", "system", "pvog")  # scaling takes ~10 minutes more


@contextlib.asynccontextmanager
async def database_server(results: dict[str, float | str | int]) -> AsyncIterator[str]:
    """`DATABASE_URL`'s server if set, else one of the bench's own with the settings the deployment gives PostgreSQL
    for bulk writes (`infra.BULK_WRITE_SETTINGS`, as in docker-compose.yml); its version and settings recorded."""
    if given := os.environ.get("DATABASE_URL"):
        server = contextlib.nullcontext(given)
    else:
        server = infra.own_postgres()
    async with server as url:
        admin = await asyncpg.connect(db.with_database(url, "postgres"))
        try:
            results["postgres"] = (await admin.fetchval("SHOW server_version")).split()[0]
            results["postgres_max_wal_size"] = await admin.fetchval("SHOW max_wal_size")
            results["postgres_shared_buffers"] = await admin.fetchval("SHOW shared_buffers")
            results["postgres_autovacuum_naptime"] = await admin.fetchval("SHOW autovacuum_naptime")
        finally:
            await admin.close()
        yield url


def ratios(results: dict[str, float | str | int], only: frozenset[str]) -> dict[str, float]:
    """The figures that compare parts of one run (each only when both parts ran)."""
    r: dict[str, Any] = results
    out: dict[str, float] = {}
    if {"limits", "eligibility"} <= only:
        out["eligibility_vs_sql_limit"] = r["eligibility_per_s"] / r["sql_limit_per_s"]
        out["eligibility_vs_naive"] = r["eligibility_per_s"] / r["naive_per_s"]
    if {"eligibility", "catchup"} <= only:
        out["catch_up_vs_steady"] = r["catch_up_per_s"] / r["eligibility_per_s"]
        out["catch_up_after_first_commit_vs_steady"] = r["catch_up_after_first_commit_per_s"] / r["eligibility_per_s"]
    if {"eligibility", "quix"} <= only and isinstance(r["quix_per_s"], float):
        out["eligibility_vs_quix"] = r["eligibility_per_s"] / r["quix_per_s"]
        out["eligibility_2p_vs_quix"] = r["eligibility_2p_per_s"] / r["quix_per_s"]
    return out


def machine() -> dict[str, float | str | int]:
    """Where and when the run was measured."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
    return {
        "cores": os.cpu_count() or 0, "cpu": cpu, "python": sys.version.split()[0],
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "commit": measured_commit(), "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


async def main(scale: float, only: frozenset[str] = frozenset(PARTS)) -> dict[str, float | str | int]:
    results: dict[str, float | str | int] = {}
    log_dir = RESULTS / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    async with database_server(results) as server:
        with infra.tansu(log=log_dir / "tansu.log") as broker:
            name = f"da_bench_{uuid.uuid4().hex[:8]}"
            url = db.with_database(server, name)
            await db.ensure_database(url)
            try:
                settings = Settings(
                    kafka_bootstrap_servers=broker.url, database_url=url, feed_secret="bench-secret",
                    kafka_topic_prefix="bench.", kafka_group_prefix="bench.",
                    # as `make run` sets them against Tansu (whose joins take half the session timeout)
                    kafka_session_timeout_ms=int(TANSU_CONSUMER_TIMEOUTS["KAFKA_SESSION_TIMEOUT_MS"]),
                    kafka_heartbeat_interval_ms=int(TANSU_CONSUMER_TIMEOUTS["KAFKA_HEARTBEAT_INTERVAL_MS"]),
                )
                await ensure_topics(settings)
                n = int(EVENTS * scale)
                events = link_events(n)
                payloads = [(e.authority_id.encode(), e.to_json()) for e in events]
                topic = settings.topic("portal.procedure-links.v1")

                print(f"bench: {n} link events, broker Tansu at {broker.url}, database {name}", flush=True)
                if "limits" in only:
                    results["raw_produce_per_s"] = await raw_produce(settings, topic, payloads)
                    results["raw_consume_per_s"] = await raw_consume(settings, topic, n)
                    results["sql_limit_per_s"] = await sql_limit(url, events)
                    results["naive_per_s"] = await naive(settings, url, max(2_000, n // 50))
                if "eligibility" in only or "quix" in only:
                    if "limits" not in only:
                        await raw_produce(settings, topic, payloads)
                    if "eligibility" in only:
                        results["eligibility_per_s"] = await eligibility_rate(settings, n, log_dir)
                        async with scratch(settings, server, "elig2") as own:  # two processes, as deployed
                            await raw_produce(own, own.topic("portal.procedure-links.v1"), payloads)
                            results["eligibility_2p_per_s"] = await eligibility_rate(own, n, log_dir, processes=2)
                    if "quix" in only:
                        results["quix_per_s"] = await quix_peer(settings, payloads, n)
                if "catchup" in only:
                    async with scratch(settings, server, "catchup") as own:
                        results.update(await catch_up_after_restart(own, log_dir, payloads, int(200_000 * scale)))
                if "ingest" in only:
                    results["ingest_per_s"] = await ingest_rate(settings, n, log_dir)
                    async with scratch(settings, server, "ingest2") as own:  # the same changes, not duplicates
                        results["ingest_2p_per_s"] = await ingest_rate(own, n, log_dir, processes=2)
                if "system" in only:
                    results.update(await whole_system(settings, server, log_dir, scale))
                if "pvog" in only and "scaling" not in only:
                    results.update(await pvog_full_sync(settings, server, log_dir, scale))
                if "scaling" in only:
                    results.update(await scaling(settings, server, log_dir, scale))
            finally:
                await drop_scratch(server, name)
    results.update(ratios(results, only))
    results["events"] = n
    results.update(machine())
    return results


def table(results: dict[str, float | str | int]) -> str:
    lines = ["| figure | value |", "|---|---|"]
    for key, value in results.items():
        shown = f"{value:,.0f}" if isinstance(value, float) and value >= 100 else (f"{value:.2f}" if isinstance(value, float) else str(value))
        lines.append(f"| `{key}` | {shown} |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--scale", type=float, default=1.0, help=f"1.0 = {EVENTS:,} events (and 250,000 changes for Bavaria)")
    parser.add_argument("--only", default=",".join(DEFAULT_PARTS),
                        help=f"comma-separated parts to run, of {','.join(PARTS)}; a partial run writes partial.json")
    args = parser.parse_args()
    only = frozenset(args.only.split(","))
    if unknown := only - set(PARTS):
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    out = asyncio.run(main(args.scale, only))
    print(table(out))
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "latest.json" if only >= set(DEFAULT_PARTS) and args.scale == 1.0 else "partial.json"
    (RESULTS / name).write_text(json.dumps(out, indent=2) + "\n")
    runs = RESULTS / "runs"  # every run kept, named by time, commit and parts
    runs.mkdir(exist_ok=True)
    stamp = str(out["measured_at"]).replace(":", "").replace("+0000", "Z")
    (runs / f"{stamp}-{out['commit']}-{'-'.join(sorted(only))}.json").write_text(json.dumps(out, indent=2) + "\n")
    sys.exit(0)
