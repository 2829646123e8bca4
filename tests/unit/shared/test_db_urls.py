"""Database URLs: connection parameters stay in the URL, everything else in the query is a server setting."""

from __future__ import annotations

from shared.db import _strip_query, with_database


def test_a_unix_socket_url_keeps_its_socket_directory() -> None:
    url = with_database("postgresql://postgres:@/postgres?host=/tmp/pg/data", "digitales_amt")
    base, settings = _strip_query(url + "&search_path=ingest&sslmode=disable")
    assert base == "postgresql://postgres:@/digitales_amt?host=%2Ftmp%2Fpg%2Fdata&sslmode=disable"
    assert settings == {"search_path": "ingest"}


def test_a_tcp_url_without_a_query_is_unchanged() -> None:
    assert _strip_query("postgresql://u:p@db:5432/x") == ("postgresql://u:p@db:5432/x", {})
