"""`python -m services.ingest` serves the feeds; `pvog-sync [--url URL]` reads the PVOG feed to its end."""

from __future__ import annotations

import gc

gc.disable()  # until start-up has frozen what it allocated (shared.runtime._settle_gc)

import argparse
import asyncio
import sys

from fastapi import FastAPI

from services.ingest import pvog
from services.ingest.app import INGEST, pvog_client
from shared.http import new_app
from shared.logging import configure_logging
from shared.runtime import Runtime, StartupError, service_runtime
from shared.settings import Settings


def _no_http(_: Runtime) -> FastAPI:
    return new_app(INGEST.name, "pvog-sync")


async def pvog_sync(url: str, settings: Settings) -> pvog.SyncResult:
    """One pass to the end of the feed; waits until the relay has published what the pass wrote."""
    async with service_runtime(INGEST.name, INGEST.migrations, _no_http, settings) as (rt, app), pvog_client(settings) as client:
        result = await pvog.sync(rt.pool, client, url)
        await app.state.relay.drained(rt.pool, timeout=60)
        return result


def pvog_sync_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.ingest pvog-sync")
    parser.add_argument("--url", help="first page URL of the Bereitstelldienst feed (default: PVOG_URL)")
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging(INGEST.name, settings.log_level, settings.log_json, settings.secrets())
    url = args.url or settings.pvog_url
    if not url:
        print("ingest: pvog-sync needs --url or PVOG_URL", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(pvog_sync(url, settings))
    except (pvog.PvogError, StartupError) as exc:
        print(f"ingest: pvog-sync failed: {exc}", file=sys.stderr)
        return 1
    print(f"pvog-sync: {pvog.describe(result)}")
    return 0


def main(argv: list[str]) -> int:
    return INGEST.main(argv, {"pvog-sync": pvog_sync_command}, "[serve | pvog-sync [--url URL]]")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
