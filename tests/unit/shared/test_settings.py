"""Settings come from the environment or, for a mounted Secret, from files in SECRETS_DIR."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SHOW = "from shared.settings import Settings; s = Settings(); print(s.database_url, s.feed_secret.get_secret_value())"


def settings_in_child(env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "FEED_SECRET", "SECRETS_DIR"}}
    done = subprocess.run([sys.executable, "-c", SHOW], env={**clean, **env}, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_secrets_are_read_from_files_and_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / "DATABASE_URL").write_text("postgresql://app:from-file@db:5432/digitales_amt\n")
    (tmp_path / "FEED_SECRET").write_text("a-feed-secret-from-a-file\n")
    assert settings_in_child({"SECRETS_DIR": str(tmp_path)}) == (
        "postgresql://app:from-file@db:5432/digitales_amt a-feed-secret-from-a-file")
    assert settings_in_child({"SECRETS_DIR": str(tmp_path), "FEED_SECRET": "from-the-environment"}).endswith(
        " from-the-environment")
