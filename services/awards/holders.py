"""Existing holders: `python -m services.awards holders import FILE.csv`, whole file or nothing, idempotent.

Header `authority_id,award_number,awarded_at` and optionally `revoked_at` (ISO dates). Every line is checked
against the reference list, the other lines and what awards already holds; any error refuses the whole file,
named by line. An imported award is a holder like any other (a later dip starts its grace period); notify learns
of it by an `AwardImported` event and sends no congratulation. New numbers of a year continue after the highest
imported one.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from uuid import NAMESPACE_URL, uuid5

import asyncpg

from services.awards import domain, repository
from shared import outbox
from shared.authorities import Registry
from shared.events import AwardImported

REQUIRED = ["authority_id", "award_number", "awarded_at"]
_NS = uuid5(NAMESPACE_URL, "https://digitales-amt.example/awards/imported")


@dataclass(frozen=True)
class Holder:
    line: int
    authority_id: str
    award_number: str
    awarded_at: date
    revoked_at: date | None


def _date(text: str, what: str, errors: list[str], line: int) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        errors.append(f"Zeile {line}: {what} ist kein Datum (JJJJ-MM-TT): {text!r}")
        return None


def parse(text: str, registry: Registry, today: date) -> tuple[list[Holder], list[str]]:
    """The file's holders, or the errors by line (German) that refuse it."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    if header not in (REQUIRED, [*REQUIRED, "revoked_at"]):
        return [], [f"Zeile 1: die Kopfzeile muss {','.join(REQUIRED)}[,revoked_at] lauten, nicht {','.join(header)!r}"]
    holders: list[Holder] = []
    errors: list[str] = []
    for line, row in enumerate(reader, start=2):
        before = len(errors)
        key, number = (row.get("authority_id") or "").strip(), (row.get("award_number") or "").strip()
        if key not in registry:
            errors.append(f"Zeile {line}: unbekannte Behörde {key!r}")
        parsed = domain.parse_award_number(number)
        if parsed is None:
            errors.append(f"Zeile {line}: Auszeichnungsnummer {number!r} hat nicht die Form DA-JJJJ-NNNNN")
        awarded = _date(row.get("awarded_at") or "", "awarded_at", errors, line)
        revoked = _date(row["revoked_at"], "revoked_at", errors, line) if (row.get("revoked_at") or "").strip() else None
        if awarded and parsed and parsed[0] != awarded.year:
            errors.append(f"Zeile {line}: das Jahr der Nummer {number} ist nicht das Jahr der Verleihung {awarded}")
        if awarded and awarded > today:
            errors.append(f"Zeile {line}: die Verleihung am {awarded} liegt in der Zukunft")
        if awarded and revoked and revoked < awarded:
            errors.append(f"Zeile {line}: der Widerruf am {revoked} liegt vor der Verleihung am {awarded}")
        if len(errors) == before and awarded:
            holders.append(Holder(line, key, number, awarded, revoked))
    errors += _within_file(holders)
    return holders, errors


def _within_file(holders: list[Holder]) -> list[str]:
    errors = []
    numbers: dict[str, int] = {}
    current: dict[str, int] = {}
    for h in holders:
        if h.award_number in numbers:
            errors.append(f"Zeile {h.line}: die Nummer {h.award_number} steht schon in Zeile {numbers[h.award_number]}")
        numbers.setdefault(h.award_number, h.line)
        if h.revoked_at is None:
            if h.authority_id in current:
                errors.append(f"Zeile {h.line}: die Behörde hat schon in Zeile {current[h.authority_id]} eine geltende "
                              "Auszeichnung")
            current.setdefault(h.authority_id, h.line)
    return errors


async def store(pool: asyncpg.Pool, holders: list[Holder]) -> tuple[int, list[str]]:
    """All holders in one transaction, or none; returns (how many were new, errors against what awards holds)."""
    async with pool.acquire() as conn, conn.transaction():
        for key in sorted({h.authority_id for h in holders}):
            await repository.lock_authority(conn, key)
        errors = await _against_stored(conn, holders)
        if errors:
            return 0, errors
        new = await repository.import_awards(
            conn, [(h.award_number, h.authority_id, h.awarded_at, h.revoked_at) for h in holders]
        )
        last: dict[int, int] = {}
        for h in holders:
            year, seq = domain.parse_award_number(h.award_number) or (0, 0)
            last[year] = max(last.get(year, 0), seq)
        await repository.raise_counters(conn, last)
        await outbox.enqueue(conn, [
            AwardImported(event_id=uuid5(_NS, h.award_number), authority_id=h.authority_id, correlation_id="import",
                          award_number=h.award_number, awarded_at=h.awarded_at, revoked_at=h.revoked_at)
            for h in holders if h.award_number in new
        ])
    return len(new), []


async def _against_stored(conn: asyncpg.Connection, holders: list[Holder]) -> list[str]:
    errors = []
    stored = {r["award_number"]: r for r in await repository.awards_with_numbers(conn, [h.award_number for h in holders])}
    holding = await repository.current_holders(conn, [h.authority_id for h in holders])
    for h in holders:
        known = stored.get(h.award_number)
        if known is not None:
            if (known["authority_id"], known["awarded_at"]) != (h.authority_id, h.awarded_at):
                errors.append(f"Zeile {h.line}: die Nummer {h.award_number} ist schon an {known['authority_id']} "
                              f"vom {known['awarded_at']} vergeben")
            continue
        if h.revoked_at is None and h.authority_id in holding:
            errors.append(f"Zeile {h.line}: die Behörde trägt schon die Auszeichnung {holding[h.authority_id]}")
        s = await repository.standing(conn, h.authority_id)
        if h.revoked_at is None and s.undecided_kind is not None:
            errors.append(f"Zeile {h.line}: für die Behörde ist eine Prüfung offen; bitte erst entscheiden")
    return errors
