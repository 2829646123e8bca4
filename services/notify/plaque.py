"""The plaque of an award: the holder's personal request form (public, by an unguessable link from the
congratulation email) and the operators' list of requests, where a plaque is marked shipped (which emails the
authority).

The link's token is 256 random bits; only its SHA-256 is stored. It is tied to one award: a revoked award's link no
longer works, and a request can be changed until the plaque is shipped.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

import asyncpg
from email_validator import EmailNotValidError
from fastapi import APIRouter, Depends, Form, HTTPException, Path
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, SecretStr

from services.notify import domain, repository
from services.notify.contacts import normalized_address
from services.notify.web import page
from shared.authorities import Registry
from shared.http import admin_only

FIELDS = {  # name: (label, required, max length)
    "recipient": ("Behörde oder Empfänger", True, 200),
    "street": ("Straße und Hausnummer", True, 200),
    "postal_code": ("Postleitzahl", True, 5),
    "city": ("Ort", True, 100),
    "contact_name": ("Ansprechperson", True, 200),
    "contact_email": ("E-Mail der Ansprechperson", True, 254),
    "contact_phone": ("Telefon (freiwillig)", False, 40),
}
_NS = uuid.uuid5(uuid.NAMESPACE_URL, "https://digitales-amt.example/notify/plaque")


def new_token() -> tuple[str, str]:
    """(token for the link, its hash to store)."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check(form: dict[str, str]) -> tuple[dict[str, str | None], dict[str, str]]:
    """The cleaned fields and, per field, what is wrong with it (German)."""
    clean: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    for name, (label, required, limit) in FIELDS.items():
        value = " ".join((form.get(name) or "").split())
        if "\x00" in value or len(value) > limit:
            errors[name] = f"{label}: höchstens {limit} Zeichen."
        elif required and not value:
            errors[name] = f"{label}: bitte angeben."
        clean[name] = value or None
    if clean["postal_code"] and not re.fullmatch(r"\d{5}", clean["postal_code"] or ""):
        errors["postal_code"] = "Postleitzahl: bitte fünf Ziffern."
    if clean["contact_email"] and "contact_email" not in errors:
        try:
            clean["contact_email"] = normalized_address(clean["contact_email"] or "")
        except EmailNotValidError:
            errors["contact_email"] = "E-Mail der Ansprechperson: bitte eine gültige Adresse angeben."
    return clean, errors


def address_lines(r: asyncpg.Record | dict[str, Any]) -> list[str]:
    return [r["recipient"], r["street"], f"{r['postal_code']} {r['city']}", f"z. Hd. {r['contact_name']}"]


def plaque_router(pool: asyncpg.Pool, registry: Registry) -> APIRouter:
    router = APIRouter(tags=["public"])

    async def request_of(token: str) -> asyncpg.Record:
        found = await repository.plaque_by_token(pool, token_hash(token)) if len(token) < 100 else None
        if found is None:
            raise HTTPException(404, detail="Diesen Link zur Plakette gibt es nicht. Bitte nutzen Sie den Link aus "
                                            "der E-Mail zur Verleihung.")
        if found["revoked_at"] is not None:
            raise HTTPException(410, detail="Diese Auszeichnung ist widerrufen; der Link zur Plakette gilt nicht mehr.")
        return found

    def form_page(found: asyncpg.Record, values: dict[str, Any], errors: dict[str, str], status: int = 200,
                  saved: bool = False) -> HTMLResponse:
        authority = registry.get(found["authority_id"])
        return page("plaque.html.j2", status, authority=authority, award_number=found["award_number"], fields=FIELDS,
                    values=values, errors=errors, saved=saved, shipped_on=found["shipped_on"])

    @router.get("/plakette/{token}", response_class=HTMLResponse, summary="the holder's plaque request form",
                responses={404: {}, 410: {"description": "the award is revoked"}})
    async def plaque_form(token: str) -> HTMLResponse:
        found = await request_of(token)
        return form_page(found, dict(found), {})

    @router.post("/plakette/{token}", response_class=HTMLResponse, summary="request the plaque (or change the request)",
                 responses={404: {}, 409: {"description": "already shipped"}, 410: {}, 422: {"description": "see the form"}})
    async def plaque_request(
        token: str,
        recipient: Annotated[str, Form(max_length=1_000)] = "", street: Annotated[str, Form(max_length=1_000)] = "",
        postal_code: Annotated[str, Form(max_length=1_000)] = "", city: Annotated[str, Form(max_length=1_000)] = "",
        contact_name: Annotated[str, Form(max_length=1_000)] = "",
        contact_email: Annotated[str, Form(max_length=1_000)] = "",
        contact_phone: Annotated[str, Form(max_length=1_000)] = "",
    ) -> HTMLResponse:
        found = await request_of(token)
        sent = {"recipient": recipient, "street": street, "postal_code": postal_code, "city": city,
                "contact_name": contact_name, "contact_email": contact_email, "contact_phone": contact_phone}
        clean, errors = check(sent)
        if errors:
            return form_page(found, sent, errors, 422)
        if not await repository.save_plaque(pool, found["award_number"], clean):
            raise HTTPException(409, detail=f"Die Plakette ist am {found['shipped_on']:%d.%m.%Y} verschickt worden; "
                                            "die Angaben lassen sich nicht mehr ändern.")
        return form_page(found, clean, {}, saved=True)

    return router


class PlaqueView(BaseModel):
    award_number: str
    authority_id: str
    authority_name: str = Field(description="with its kind, e.g. `Landkreis Kitzingen`")
    requested_at: datetime | None
    updated_at: datetime | None
    address_lines: list[str]
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None
    shipped_on: date | None
    shipped_by: str | None


class ShippedBody(BaseModel):
    shipped_on: date | None = Field(None, description="default: today (Europe/Berlin)")
    by: str = Field(min_length=1, max_length=100, description="who shipped it (the reviewer)")


def plaques_admin_router(pool: asyncpg.Pool, registry: Registry, admin_token: SecretStr | None) -> APIRouter:
    """Operators only: `Authorization: Bearer <ADMIN_TOKEN>` (the reviewers' console reaches it through awards)."""
    router = APIRouter(tags=["plaques (operators)"], dependencies=[Depends(admin_only(admin_token))],
                       responses={401: {"description": "no or bad admin token"}, 503: {"description": "no ADMIN_TOKEN"}})

    def view(r: asyncpg.Record) -> PlaqueView:
        a = registry.get(r["authority_id"])
        return PlaqueView(**{k: r[k] for k in PlaqueView.model_fields if k in r.keys()},
                          authority_name=a.display_name if a else r["authority_id"], address_lines=address_lines(r))

    @router.get("/v1/plaques", response_model=list[PlaqueView], summary="plaque requests, oldest first")
    async def list_plaques(shipped: bool | None = False) -> list[PlaqueView]:
        return [view(r) for r in await repository.plaques(pool, shipped=shipped)]

    @router.post("/v1/plaques/{award_number}/shipped", response_model=PlaqueView,
                 responses={404: {}, 409: {"description": "not requested yet, or shipped already"}})
    async def shipped(award_number: Annotated[str, Path(pattern=r"^DA-\d{4}-\d{5}$")], body: ShippedBody) -> PlaqueView:
        on = body.shipped_on or datetime.now(UTC).astimezone(domain.BERLIN).date()
        async with pool.acquire() as conn, conn.transaction():
            found = await repository.plaque_for_update(conn, award_number)
            if found is None:
                raise HTTPException(404, detail="Zu dieser Auszeichnung gibt es keine Plakette.")
            if not await repository.mark_shipped(conn, award_number, on, body.by):
                raise HTTPException(409, detail="Die Plakette ist noch nicht angefordert oder schon verschickt.")
            payload = {"authority_id": found["authority_id"], "award_number": award_number, "shipped_on": on.isoformat(),
                       "address_lines": address_lines(found)}
            await repository.add_notification(conn, uuid.uuid5(_NS, award_number), found["authority_id"],
                                               "PlaqueShipped", payload)
            await repository.wake_mailer(conn)
            updated = await repository.plaque_for_update(conn, award_number)
        assert updated is not None
        return view(updated)

    return router
