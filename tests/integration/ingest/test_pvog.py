"""The PVOG pull over real HTTP, the real database and broker, into eligibility's counts."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from harness.kafka import events_of, read_topic
from services.eligibility.app import build as build_eligibility
from services.ingest import pvog
from services.ingest.app import build as build_ingest
from tests.conftest import eventually
from tests.support.feed_server import FeedServer, pvog_pages

PAGES = pvog_pages()
KITZINGEN, VG_IPHOFEN = "09675141", "096755616"
HUND, GEWERBE = "pvog:L100012:LS-HUND", "pvog:L100012:LS-GEWERBE"


def per_authority(events: list[dict]) -> dict[str, list[tuple[str, str]]]:
    """Events in their order per authority (the key); across partitions there is no order to assert."""
    out: dict[str, list[tuple[str, str]]] = {}
    for e in events:
        out.setdefault(e["authority_id"], []).append((e["event_type"], e["procedure"]["id"]))
    return out


async def test_pages_end_to_end_into_eligibility_counts(start, settings) -> None:
    rt, _ = await start("ingest", build_ingest)
    _, eligibility = await start("eligibility", build_eligibility)
    async with FeedServer(PAGES).running() as feed, pvog.new_client() as client:
        result = await pvog.sync(rt.pool, client, feed.first_url, backoff=0.01)
    assert (result.pages, result.linked, result.unlinked) == (3, 4, 1)

    events = events_of(await read_topic(settings, "portal.procedure-links.v1", at_least=5, settle=1.0))
    assert per_authority(events) == {
        KITZINGEN: [
            ("ProcedureLinked", HUND),
            ("ProcedureLinked", GEWERBE),  # page 3: its service arrived after the tie
            ("ProcedureLinked", HUND),  # page 3: the service changed its name and address
        ],
        VG_IPHOFEN: [("ProcedureLinked", HUND), ("ProcedureUnlinked", HUND)],
    }
    kitzingen = [e for e in events if e["authority_id"] == KITZINGEN]
    hund = kitzingen[0]["procedure"]
    assert hund == {
        "id": HUND, "name": "Hundesteuer - Anmeldung eines Hundes", "scope": "municipal", "kind": "online",
        "url": "https://example.invalid/hund", "leika_key": "99102013104000",
    }
    assert kitzingen[2]["procedure"]["url"] == "https://example.invalid/hund-neu"

    async def counts() -> tuple[int, int]:
        kt = (await eligibility.get(f"/v1/authorities/{KITZINGEN}")).json()
        vg = (await eligibility.get(f"/v1/authorities/{VG_IPHOFEN}")).json()
        assert (kt["count"], vg["count"]) == (2, 0)
        return kt["count"], vg["count"]

    await eventually(counts)


async def test_a_second_run_continues_where_the_first_stopped(start, pool) -> None:
    rt, _ = await start("ingest", build_ingest)
    async with FeedServer(PAGES).running() as feed, pvog.new_client() as client:
        await pvog.sync(rt.pool, client, feed.first_url, backoff=0.01)
        again = await pvog.sync(rt.pool, client, feed.first_url, backoff=0.01)
        assert dict(feed.served) == {0: 1, 1: 1, 2: 1, 3: 1}
    assert (again.pages, again.linked, again.unlinked) == (1, 0, 0)
    assert await pool.fetchval("SELECT count(*) FROM ingest.outbox") == 5


async def test_a_failure_between_pages_resumes_without_loss_or_duplicates(start, pool, settings) -> None:
    rt, _ = await start("ingest", build_ingest)
    async with FeedServer(PAGES, broken={2}).running() as feed, pvog.new_client() as client:
        with pytest.raises(pvog.PvogError, match="HTTP 500"):
            await pvog.sync(rt.pool, client, feed.first_url, backoff=0.01)
        assert await pool.fetchval("SELECT pages FROM ingest.pvog_cursor") == 2
        feed.broken.clear()
        resumed = await pvog.sync(rt.pool, client, feed.first_url, backoff=0.01)
        assert feed.served[0] == feed.served[1] == 1
    assert resumed.pages == 1
    events = events_of(await read_topic(settings, "portal.procedure-links.v1", at_least=5, settle=1.0))
    assert len(events) == 5 == len({e["event_id"] for e in events})


async def test_transient_errors_are_retried(start) -> None:
    rt, _ = await start("ingest", build_ingest)
    async with FeedServer(PAGES, failures={0: 2, 1: 1}).running() as feed, pvog.new_client() as client:
        result = await pvog.sync(rt.pool, client, feed.first_url, backoff=0.01)
    assert result.pages == 3


async def test_oauth2_client_credentials_are_used_when_configured(start) -> None:
    rt, _ = await start("ingest", build_ingest)
    async with FeedServer(PAGES, require_token=True).running() as feed:
        token_url = f"http://127.0.0.1:{feed.port}/token"
        async with pvog.new_client(token_url=token_url, client_id="ingest-client", client_secret="client-secret") as c:
            result = await pvog.sync(rt.pool, c, feed.first_url, backoff=0.01)
        assert result.pages == 3 and feed.tokens_issued == 1
        async with pvog.new_client(token_url=token_url, client_id="ingest-client", client_secret="wrong") as c:
            with pytest.raises(pvog.PvogError, match="token endpoint"):
                await pvog.sync(rt.pool, c, feed.first_url + "&other", backoff=0.01)


async def test_an_unreadable_page_changes_nothing(start, pool) -> None:
    rt, _ = await start("ingest", build_ingest)
    async with FeedServer([PAGES[0], b"<broken"]).running() as feed, pvog.new_client() as client:
        with pytest.raises(pvog.PvogError, match="not well-formed"):
            await pvog.sync(rt.pool, client, feed.first_url, backoff=0.01)
    assert await pool.fetchval("SELECT pages FROM ingest.pvog_cursor") == 1
    assert await pool.fetchval("SELECT count(*) FROM ingest.outbox") == 2


async def test_a_page_that_repeats_an_object_and_a_tie_is_applied(start, pool, settings) -> None:
    head, _, rest = PAGES[0].decode().partition("<xzufi:schreibe>")
    body, end, tail = ("<xzufi:schreibe>" + rest).rpartition("</xzufi:transfer.operation>")
    repeated = (head + body + body + end + tail).encode()  # every object and tie of page 0 twice
    rt, _ = await start("ingest", build_ingest)
    async with FeedServer([repeated]).running() as feed, pvog.new_client() as client:
        result = await pvog.sync(rt.pool, client, feed.first_url, backoff=0.01)
    assert (result.pages, result.linked, result.unlinked) == (1, 2, 0)
    events = events_of(await read_topic(settings, "portal.procedure-links.v1", at_least=2, settle=1.0))
    assert sorted((e["authority_id"], e["procedure"]["id"]) for e in events) == [(KITZINGEN, HUND), (VG_IPHOFEN, HUND)]


async def test_a_tie_whose_procedure_id_no_event_could_carry_is_skipped_and_the_feed_goes_on(start, pool) -> None:
    """XZuFi ids have no length limit, procedure ids in events 200 characters: such a tie is counted and skipped,
    not a page the sync stops on for good."""
    long_id = "LS-" + "H" * 250
    page = PAGES[0].replace(b"LS-HUND", long_id.encode())
    skipped = pvog.TIES_SKIPPED.labels("procedure_id_too_long")._value.get()
    rt, _ = await start("ingest", build_ingest)
    async with FeedServer([page]).running() as feed, pvog.new_client() as client:
        result = await pvog.sync(rt.pool, client, feed.first_url, backoff=0.01)
    assert (result.pages, result.linked, result.unlinked) == (1, 0, 0)
    assert pvog.TIES_SKIPPED.labels("procedure_id_too_long")._value.get() > skipped
    assert await pool.fetchval("SELECT count(*) FROM ingest.outbox") == 0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"naechsteAnfrageUrl": 17}, "naechsteAnfrageUrl is not a string"),
        ({"naechsteAnfrageUrl": ["?index=1"]}, "naechsteAnfrageUrl is not a string"),
        ({"naechsteAnfrageUrl": "https://elsewhere.example/feed?index=1"}, "not to the feed's origin"),
        ({"naechsteAnfrageUrl": "//127.0.0.2/feed?index=1"}, "not to the feed's origin"),
        ({"xzufiObjekte": {"not": "xml"}}, "xzufiObjekte is not a string"),
        ({"xzufiObjekte": "just text, no XML"}, "not well-formed"),
    ],
    ids=["next-number", "next-list", "next-other-host", "next-scheme-relative", "objects-not-a-string", "not-xml"],
)
async def test_a_malformed_page_is_a_clear_error_and_follows_nothing(start, pool, override, message) -> None:
    rt, _ = await start("ingest", build_ingest)
    async with FeedServer(PAGES, overrides={0: override}).running() as feed, pvog.new_client() as client:
        with pytest.raises(pvog.PvogError, match=message):
            await pvog.sync(rt.pool, client, feed.first_url, backoff=0.01)
        assert set(feed.served) == {0}, "no request beyond the bad page"
    assert await pool.fetchval("SELECT count(*) FROM ingest.pvog_cursor") == 0


async def test_a_token_endpoint_answering_200_without_a_token_is_a_clear_error(start) -> None:
    rt, _ = await start("ingest", build_ingest)
    async with FeedServer(PAGES, require_token=True, token_answer={"token_type": "bearer"}).running() as feed:
        token_url = f"http://127.0.0.1:{feed.port}/token"
        async with pvog.new_client(token_url=token_url, client_id="ingest-client", client_secret="client-secret") as c:
            with pytest.raises(pvog.PvogError, match="without a usable access_token") as caught:
                await pvog.sync(rt.pool, c, feed.first_url, backoff=0.01)
    assert caught.value.reason == "token"
    assert not feed.served


async def test_the_poller_outlives_a_bad_feed_and_reads_it_once_mended(start, pool) -> None:
    rt, _ = await start("ingest", build_ingest)
    beats: list[int] = []
    async with FeedServer(PAGES, overrides={0: {"naechsteAnfrageUrl": 17}}).running() as feed, pvog.new_client() as client:
        errors_before = pvog.ERRORS.labels("next_url")._value.get()
        task = asyncio.create_task(
            pvog.poll(rt.pool, client, feed.first_url, 3600, lambda: beats.append(1), first_retry_s=0.05)
        )
        try:
            async def failed_twice() -> bool:
                return pvog.ERRORS.labels("next_url")._value.get() - errors_before >= 2

            await eventually(failed_twice)
            feed.overrides.clear()

            async def read_and_reported() -> bool:
                """Each failed round and the good one report the poller alive (the good one after its commit)."""
                failures = pvog.ERRORS.labels("next_url")._value.get() - errors_before
                pages = await pool.fetchval("SELECT pages FROM ingest.pvog_cursor")
                return pages == 3 and len(beats) == failures + 1

            await eventually(read_and_reported)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_the_token_never_goes_to_another_origin(start) -> None:
    rt, _ = await start("ingest", build_ingest)
    elsewhere = FeedServer(PAGES)
    async with elsewhere.running():
        other = f"http://127.0.0.1:{elsewhere.port}/bereitstelldienst/api/v2/verwaltungsobjekte?index=1"
        feed = FeedServer(PAGES, require_token=True, overrides={0: {"naechsteAnfrageUrl": other}})
        async with feed.running():
            token_url = f"http://127.0.0.1:{feed.port}/token"
            async with pvog.new_client(token_url=token_url, client_id="ingest-client", client_secret="client-secret") as c:
                with pytest.raises(pvog.PvogError, match="not to the feed's origin"):
                    await pvog.sync(rt.pool, c, feed.first_url, backoff=0.01)
    assert dict(feed.served) == {0: 1} and feed.tokens_issued == 1
    assert not elsewhere.served, "nothing, and no token, was sent to the other origin"
