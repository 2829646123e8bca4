"""The demo of `make run` and `docker compose run --rm demo`: contacts for every authority, the holders from before
the system, a lead reviewer, and a realistic feed for every Bavarian authority through the signed feed API.

The feed is drawn from a fixed seed, so it is the same on every run and replaying it changes nothing.
`python -m deploy.demo [--ingest URL] [--dir DIR]` runs it against services that are up (FEED_SECRET and
DATABASE_URL as theirs); the reviewer's token is kept in DIR/demo_token and printed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from shared.authorities import registry
from shared.signature import HEADER, portal_signature

ROOT = Path(__file__).resolve().parent.parent
PROCEDURES_CSV = ROOT / "shared" / "data" / "online_procedures.csv"
HOLDERS = ROOT / "deploy" / "holders.sample.csv"  # holders from before the system, so the listing is not empty
ELIGIBLE_SHARE = 0.165  # about 400 of 2,445 authorities eligible, as in Bavaria in 2024
SEED = 2024


@dataclass(frozen=True)
class DemoFeed:
    changes: list[dict[str, Any]]
    expected_eligible: list[str]


def _catalogue(rnd: random.Random) -> list[dict[str, Any]]:
    """The real procedures of the reference list, then generated ones in the same shape."""
    with PROCEDURES_CSV.open(encoding="utf-8") as f:
        real = [
            {"id": f"bp-{i:04d}", "name": r["name"], "scope": r["scope"], "kind": "online",
             "leika_key": r["leika_key"] or None}
            for i, r in enumerate(csv.DictReader(f))
        ]
    topics = ["Antrag", "Anmeldung", "Abmeldung", "Bescheinigung", "Genehmigung", "Auskunft", "Erstattung", "Meldung"]
    subjects = ["Sondernutzung", "Friedhofsgebühren", "Veranstaltung", "Baumfällung", "Parkerlaubnis", "Fischereischein",
                "Kindertagesstätte", "Wasserzähler", "Gewerbeauskunft", "Straßensperrung", "Plakatierung", "Hundesteuer"]
    generated = [
        {"id": f"bp-gen-{i:04d}", "name": f"{rnd.choice(subjects)} – {rnd.choice(topics)} {i}",
         "scope": "central" if rnd.random() < 0.15 else "municipal", "kind": "online",
         "leika_key": f"99{rnd.randrange(10**11, 10**12):012d}"}
        for i in range(160)
    ]
    return real + generated


def build_feed(seed: int = SEED) -> DemoFeed:
    rnd = random.Random(seed)
    catalogue = _catalogue(rnd)
    changes: list[dict[str, Any]] = []
    eligible: list[str] = []
    for authority in registry():
        threshold = 30 if authority.kind == "bezirk" else 50
        if rnd.random() < ELIGIBLE_SHARE:
            counted = rnd.randint(threshold, threshold + 35)
            eligible.append(authority.key)
        else:
            counted = min(threshold - 1, int(rnd.betavariate(1.6, 3.5) * threshold * 1.1))
        picked = rnd.sample(catalogue, counted)
        extras = [
            {"id": f"bp-info-{i:03d}", "name": "Informationsseite", "scope": "municipal",
             "kind": rnd.choice(["information", "print_form"]), "leika_key": None}
            for i in rnd.sample(range(400), rnd.randint(0, 6))
        ]
        for n, p in enumerate(picked + extras):
            procedure = {**p, "url": f"https://www.bayernportal.example.invalid/{authority.key}/{p['id']}"}
            changes.append({
                "change_id": f"demo-{authority.key}-{p['id']}",
                "occurred_at": f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}T09:00:00Z",
                "action": "linked",
                "authority_id": authority.key,
                "procedure": procedure,
            })
    rnd.shuffle(changes)
    return DemoFeed(changes, sorted(eligible))


def contacts_csv() -> str:
    rows = ["authority_id,email"]
    for a in registry():
        rows.append(f"{a.key},poststelle-{a.key}@example.invalid")
    return "\n".join(rows) + "\n"


def _batches(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class Progress:
    """The demo's progress bar as whole lines, one per tenth: service logs share the terminal, so no carriage return."""

    def __init__(self, total: int, steps: int = 10) -> None:
        self.total, self.steps, self.shown = total, steps, 0

    def advance(self, sent: int) -> str | None:
        step = self.steps if sent >= self.total else self.steps * sent // max(self.total, 1)
        if step <= self.shown:
            return None
        self.shown = step
        bar = "#" * (30 * step // self.steps)
        return f"demo feed [{bar:<30}] {sent:>6}/{self.total} changes"


def replay(
    feed: DemoFeed, ingest_url: str, secret: str, *, batch: int = 1_000, out: Any = sys.stdout,
    stop: Callable[[], bool] = lambda: False,
) -> tuple[int, int]:
    """Post the feed through the signed API with a progress bar, until `stop()`; returns (accepted, duplicates)."""
    accepted = duplicates = 0
    progress = Progress(len(feed.changes))
    with httpx.Client(base_url=ingest_url, timeout=120) as client:
        for done, chunk in enumerate(_batches(feed.changes, batch), start=1):
            if stop():
                break
            body = json.dumps({"changes": chunk}).encode()
            r = client.post("/v1/portal/changes", content=body,
                            headers={"content-type": "application/json", HEADER: portal_signature(body, secret)})
            r.raise_for_status()
            accepted += r.json()["accepted"]
            duplicates += r.json()["duplicates"]
            if line := progress.advance(min(done * batch, len(feed.changes))):
                print(line, file=out, flush=True)
    return accepted, duplicates


class DemoError(Exception):
    """A step of the demo failed; the message says which and why."""


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], check=False, env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def reviewer(env: dict[str, str], var: Path) -> str:
    """The demo's lead reviewer, added once; its token is kept in var/demo_token."""
    path = var / "demo_token"
    if path.exists():
        return path.read_text().strip()
    name = f"Demo-Prüferin {secrets.token_hex(2)}"
    done = run_cli(env, "services.awards", "reviewer", "add", name, "--lead")
    if done.returncode != 0:
        raise DemoError(f"cannot add the demo reviewer: {done.stderr.strip()}")
    path.write_text(done.stdout.strip())
    path.chmod(0o600)
    return path.read_text().strip()


def run(env: dict[str, str], ingest_url: str, var: Path, stopping: Callable[[], bool] = lambda: False) -> str | None:
    """The whole demo; returns the reviewer's token, or None when `stopping()` interrupted the feed."""
    contacts = var / "demo_contacts.csv"
    contacts.write_text(contacts_csv())
    for what, args in (("the demo contacts", ("services.notify", "contacts", "import", str(contacts))),
                       ("the existing holders", ("services.awards", "holders", "import", str(HOLDERS)))):
        done = run_cli(env, *args)
        if done.returncode != 0:
            raise DemoError(f"cannot import {what}: {done.stderr.strip()}")
    token = reviewer(env, var)
    feed = build_feed()
    (var / "demo_expected.json").write_text(json.dumps({"eligible": feed.expected_eligible}))
    accepted, duplicates = replay(feed, ingest_url, env["FEED_SECRET"], stop=stopping)
    if stopping():
        print(f"\ndemo interrupted after {accepted + duplicates} changes; running it again replays it "
              "(changes already accepted come back as duplicates)", flush=True)
        return None
    print(f"demo: {accepted} changes accepted, {duplicates} already known; "
          f"{len(feed.expected_eligible)} authorities reach their threshold", flush=True)
    return token


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.demo", description=__doc__)
    parser.add_argument("--ingest", default="http://127.0.0.1:8001", help="ingest's base URL")
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("DEMO_DIR", ROOT / "var")))
    args = parser.parse_args(argv)
    if not os.environ.get("FEED_SECRET"):
        print("demo: set FEED_SECRET to the services' feed secret", file=sys.stderr)
        return 2
    args.dir.mkdir(parents=True, exist_ok=True)
    try:
        token = run(dict(os.environ), args.ingest, args.dir)
    except (DemoError, httpx.HTTPError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    print(f"reviewer console token: {token}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
