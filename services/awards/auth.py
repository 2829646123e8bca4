"""Reviewer tokens: random, shown once, stored only as a hash; checked on every request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import asyncpg
from fastapi import HTTPException, Request

from services.awards import repository


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """A plain SHA-256 suffices: tokens are random and long, so there is nothing to guess from the hash."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Reviewer:
    name: str
    lead: bool


def reviewer_dependency(pool: asyncpg.Pool):  # noqa: ANN201 - a FastAPI dependency
    async def reviewer(request: Request) -> Reviewer:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("missing bearer token")
        wanted = token_hash(token.strip())
        row = await repository.reviewer_by_hash(pool, wanted)
        if row is None or not hmac.compare_digest(row["token_hash"], wanted):
            raise _unauthorized("unknown or revoked token")
        return Reviewer(row["name"], row["lead"])

    return reviewer


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, detail=message, headers={"WWW-Authenticate": "Bearer"})
