"""`python -m services.notify contacts import FILE.csv`: all rows or none, errors named by line."""

from __future__ import annotations

from harness.processes import run_module


async def run(settings, path) -> tuple[int, str, str]:
    return await run_module(settings, "services.notify", "contacts", "import", str(path), timeout=60)


async def test_import_upserts_and_refuses_bad_files_whole(settings, pool, tmp_path) -> None:
    good = tmp_path / "contacts.csv"
    good.write_text("authority_id,email\n09675141,rathaus@kitzingen.example.invalid\n096,post@bezirk.example.invalid\n")
    code, out, err = await run(settings, good)
    assert code == 0, err
    assert out.strip() == "contacts: 2 imported"

    bad = tmp_path / "bad.csv"
    bad.write_text("authority_id,email\n09675141,neu@kitzingen.example.invalid\n12345678,x@y.example.invalid\n")
    code, _, err = await run(settings, bad)
    assert code == 1
    assert "bad.csv: line 3: unknown authority key '12345678'" in err and "nothing imported" in err
    emails = {r["authority_id"]: r["email"] for r in await pool.fetch("SELECT * FROM notify.contact")}
    assert emails == {"09675141": "rathaus@kitzingen.example.invalid", "096": "post@bezirk.example.invalid"}

    update = tmp_path / "update.csv"
    update.write_text("authority_id,email\n09675141,neu@kitzingen.example.invalid\n")
    assert (await run(settings, update))[0] == 0
    assert await pool.fetchval("SELECT email FROM notify.contact WHERE authority_id = '09675141'") == "neu@kitzingen.example.invalid"
    code, _, err = await run(settings, tmp_path / "missing.csv")
    assert code == 1 and "cannot read" in err
