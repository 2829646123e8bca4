"""Each life of an award through the four services as real processes, with timers of seconds: rejected and
re-reviewed (by a reviewer, and by itself), a holder that dips and recovers within its grace, a holder that stays
below until a revocation case opens and then recovers, a revoked reviewer's case decided by another, imported
holders on the public pages."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from harness.builders import change
from harness.processes import ROOT, ServiceProcess, env_for
from harness.smtp import Sink, body, smtp_server
from services.notify import repository as notify_repository
from shared import db
from shared.settings import Settings
from tests.conftest import eventually, signed
from tests.support.awards import add_reviewer

KITZINGEN, WUERZBURG, LK_KITZINGEN = "09675141", "09663000", "09675"
SECONDS = 1 / 86_400


class Life:
    """The running system and what a test does to it."""

    def __init__(self, settings: Settings, procs: dict[str, ServiceProcess], sink: Sink) -> None:
        self.settings, self.procs, self.sink = settings, procs, sink
        self.http = httpx.AsyncClient(timeout=30)
        self.minute = 0

    def url(self, service: str, path: str) -> str:
        return f"{self.procs[service].url}{path}"

    async def links(self, authority_id: str, ids: range | list[str], action: str = "linked") -> None:
        self.minute += 1
        body = {"changes": [change(authority_id, f"p-{i}", action=action, minute=self.minute) for i in ids]}
        r = await self.http.post(self.url("ingest", "/v1/portal/changes"), **signed(body))
        assert r.status_code == 202, r.text

    async def case(self, headers: dict, authority_id: str, kind: str = "award", status: str | None = None) -> dict:
        async def found() -> dict:
            params = {"authority_id": authority_id, "kind": kind, **({"status": status} if status else {})}
            items = (await self.http.get(self.url("awards", "/v1/cases"), params=params, headers=headers)).json()["items"]
            assert items, (authority_id, kind, status)
            return items[0]

        return await eventually(found, timeout=60)

    async def decide(self, headers: dict, case_id: str, decision: str, reason: str | None = None) -> httpx.Response:
        await self.http.post(self.url("awards", f"/v1/cases/{case_id}/claim"), headers=headers)
        return await self.http.post(self.url("awards", f"/v1/cases/{case_id}/decision"), headers=headers,
                                    json={"decision": decision, "reason": reason})

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The awards service's command line, as an operator runs it."""
        return subprocess.run([sys.executable, "-m", "services.awards", *args], cwd=ROOT, env=env_for(self.settings),
                              capture_output=True, text=True, timeout=60)

    def subjects(self, authority_id: str) -> list[str]:
        return [m["Subject"] for m in self.sink.to(f"{authority_id}@example.invalid")]

    async def mails(self, authority_id: str, n: int) -> list[str]:
        async def arrived() -> list[str]:
            got = self.subjects(authority_id)
            assert len(got) >= n, got
            return got

        return await eventually(arrived, timeout=60)


@contextlib.asynccontextmanager
async def system(settings: Settings, log_dir: Path) -> AsyncIterator[Life]:
    with smtp_server() as (sink, smtp_port):
        eligibility = ServiceProcess("eligibility", settings, log_dir)
        procs = {
            "ingest": ServiceProcess("ingest", settings, log_dir),
            "eligibility": eligibility,
            "awards": ServiceProcess("awards", settings, log_dir, REREVIEW_AFTER_DAYS=str(3 * SECONDS),
                                     REVOCATION_GRACE_DAYS=str(8 * SECONDS), TIMER_POLL_S="0.2",
                                     ELIGIBILITY_URL=eligibility.url),
            "notify": ServiceProcess("notify", settings, log_dir, SMTP_PORT=str(smtp_port)),
        }
        try:
            for p in procs.values():
                p.start()
            await asyncio.gather(*(p.ready() for p in procs.values()))
            life = Life(settings, procs, sink)
            yield life
            await life.http.aclose()
        finally:
            for p in procs.values():
                p.stop()


async def rejected_then_reviewed_again(life: Life, alice: dict, bob: dict) -> None:
    # Kitzingen: crossed -> rejected -> reviewed again by itself (3 s here) -> approved
    await life.links(KITZINGEN, range(52))
    first = await life.case(alice, KITZINGEN)
    assert (await life.decide(alice, first["case_id"], "reject", "Nachweise fehlen")).status_code == 200
    again = await life.case(alice, KITZINGEN, status="open")
    assert again["case_id"] != first["case_id"]
    assert (await life.decide(alice, again["case_id"], "approve")).status_code == 200

    # Würzburg: crossed -> rejected -> a reviewer opens a new review at once -> approved
    await life.links(WUERZBURG, range(50))
    w = await life.case(bob, WUERZBURG)
    await life.decide(bob, w["case_id"], "reject", "Bitte Verknüpfungen prüfen")
    by_hand = await life.http.post(life.url("awards", f"/v1/authorities/{WUERZBURG}/cases"), headers=bob)
    assert by_hand.status_code == 201, by_hand.text
    assert (await life.decide(bob, by_hand.json()["case_id"], "approve")).status_code == 200
    assert by_hand.json()["history"][0]["actor"] == "bob"


async def holders_dip_and_recover(life: Life, alice: dict) -> None:
    # Kitzingen, a holder, dips and recovers, three times within its grace period: one warning, one notice
    for _ in range(3):
        await life.links(KITZINGEN, range(49, 52), action="unlinked")  # 49 of 50
        await life.links(KITZINGEN, range(49, 52))  # 52 again
    # Würzburg, a holder, stays below: after its grace (8 s here) a revocation case opens; then it recovers
    await life.links(WUERZBURG, range(48, 50), action="unlinked")
    revocation = await life.case(alice, WUERZBURG, kind="revocation")
    assert revocation["status"] == "open" and revocation["count"] == 49  # the count eligibility announced
    await life.links(WUERZBURG, range(48, 50))
    closed = await life.case(alice, WUERZBURG, kind="revocation", status="closed")
    assert closed["reason"] == "Schwelle wieder erreicht"


async def a_revoked_reviewers_case_goes_to_another(life: Life, alice: dict, bob: dict) -> None:
    # Landkreis Kitzingen: bob holds its case, bob's access is revoked, the case is back, alice decides it
    await life.links(LK_KITZINGEN, range(50))
    lk = await life.case(bob, LK_KITZINGEN)
    await life.http.post(life.url("awards", f"/v1/cases/{lk['case_id']}/claim"), headers=bob)
    revoked = life.command("reviewer", "revoke", "bob")
    assert revoked.returncode == 0 and "1 claimed case(s) back in the queue" in revoked.stdout, revoked.stderr
    assert (await life.case(alice, LK_KITZINGEN, status="open"))["case_id"] == lk["case_id"]
    assert (await life.decide(alice, lk["case_id"], "approve")).status_code == 200


async def the_emails_tell_each_story(life: Life) -> None:
    kitzingen = await life.mails(KITZINGEN, 6)
    assert [s.split(" – ")[0] for s in kitzingen] == [
        "„Digitales Amt“: Prüfung eröffnet", "„Digitales Amt“: Auszeichnung derzeit nicht verliehen",
        "„Digitales Amt“: Prüfung eröffnet", "Herzlichen Glückwunsch: Stadt Kitzingen ist „Digitales Amt“",
        "„Digitales Amt“: Frist bis " + kitzingen[4].split("Frist bis ")[1].split(" – ")[0],
        "„Digitales Amt“: Schwelle wieder erreicht",
    ]
    wuerzburg = await life.mails(WUERZBURG, 7)
    assert "Prüfung des Widerrufs eingestellt" in wuerzburg[-1]
    rejection = next(m for m in life.sink.to(f"{KITZINGEN}@example.invalid") if "nicht verliehen" in m["Subject"])
    assert "ununterbrochen mindestens 50 Online-Verfahren" in body(rejection, "plain")
    assert len(life.subjects(KITZINGEN)) == 6, "the flapping sent nothing more (Würzburg's steps took 10 s since)"


async def imported_holders_are_public(life: Life, tmp_path: Path) -> None:
    holders = tmp_path / "holders.csv"
    holders.write_text("authority_id,award_number,awarded_at\n091,DA-2024-00077,2024-06-03\n")
    imported = life.command("holders", "import", str(holders))
    assert imported.returncode == 0 and "1 imported" in imported.stdout, imported.stderr

    async def listed() -> bool:
        items = (await life.http.get(life.url("notify", "/v1/listing.json"))).json()["items"]
        assert "DA-2024-00077" in {i["award_number"] for i in items}
        return True

    await eventually(listed, timeout=60)
    assert (await life.http.get(life.url("notify", "/signet/091.svg"))).status_code == 200
    assert "DA-2024-00077" in (await life.http.get(life.url("notify", "/verify/DA-2024-00077"))).text
    assert life.subjects("091") == [], "an imported holder gets no congratulation"


@pytest.mark.timeout(600)
async def test_every_life_of_an_award_through_real_processes(settings, tmp_path) -> None:
    async with system(settings, tmp_path) as life:
        conn = await db.connect(settings.database_url, "notify")
        await notify_repository.upsert_contacts(
            conn, [(a, f"{a}@example.invalid") for a in (KITZINGEN, WUERZBURG, LK_KITZINGEN, "091")]
        )
        await conn.close()
        pool = await db.create_pool(settings.database_url, "awards", max_size=2)
        alice, bob = await add_reviewer(pool, "alice"), await add_reviewer(pool, "bob")
        await pool.close()

        await rejected_then_reviewed_again(life, alice, bob)
        await holders_dip_and_recover(life, alice)
        await a_revoked_reviewers_case_goes_to_another(life, alice, bob)
        await the_emails_tell_each_story(life)
        await imported_holders_are_public(life, tmp_path)
