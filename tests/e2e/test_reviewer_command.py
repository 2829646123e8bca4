"""`python -m services.awards reviewer add|list|revoke`: a token printed once, only its hash stored."""

from __future__ import annotations

from harness.processes import run_module
from services.awards.app import build as build_awards


async def reviewer(settings, *args: str) -> tuple[int, str, str]:
    return await run_module(settings, "services.awards", "reviewer", *args, timeout=60)


async def test_add_list_revoke(settings, start, pool) -> None:
    code, out, err = await reviewer(settings, "add", "Erika Beispiel")
    assert code == 0, err
    token = out.strip()
    assert len(token) >= 43 and "\n" not in token  # 256 bits, URL-safe
    stored = await pool.fetchval("SELECT token_hash FROM awards.reviewer WHERE name = 'Erika Beispiel'")
    assert stored != token and token not in stored and len(stored) == 64

    _, client = await start("awards", build_awards)
    assert (await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})).json() == {"name": "Erika Beispiel", "lead": False}

    code, _, err = await reviewer(settings, "add", "Erika Beispiel")
    assert code == 1 and "exists already" in err
    code, out, _ = await reviewer(settings, "add", "Lea Leitung", "--lead")
    lead_token = out.strip()
    assert (await client.get("/v1/me", headers={"Authorization": f"Bearer {lead_token}"})).json()["lead"] is True
    code, out, _ = await reviewer(settings, "list")
    assert code == 0 and out.splitlines()[0].startswith("Erika Beispiel\tactive\treviewer")
    assert out.splitlines()[1].startswith("Lea Leitung\tactive\tlead")
    code, out, _ = await reviewer(settings, "revoke", "Erika Beispiel")
    assert code == 0
    assert (await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    code, out, _ = await reviewer(settings, "list")
    assert "revoked" in out
    code, _, err = await reviewer(settings, "fly")
    assert code == 2 and err.startswith("usage:")
