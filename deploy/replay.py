"""Replay a feed file through ingest's signed API: `python -m deploy.replay FILE [--url URL]`.

FILE holds `{"changes": [...]}` or one change per line (JSON lines). Changes already seen are reported as
duplicates and change nothing, so a feed can be replayed any number of times.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from deploy.demo import DemoFeed, replay
from shared.settings import Settings


def load(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
        return data["changes"] if isinstance(data, dict) else list(data)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def main(argv: list[str]) -> int:
    settings = Settings()
    parser = argparse.ArgumentParser(prog="python -m deploy.replay", description=__doc__)
    parser.add_argument("file", type=Path)
    parser.add_argument("--url", default=f"http://{settings.bind_host}:{settings.ingest_port}")
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args(argv)
    if settings.feed_secret is None:
        print("replay: set FEED_SECRET (make run keeps its secret in var/feed_secret)", file=sys.stderr)
        return 2
    changes = load(args.file)
    accepted, duplicates = replay(DemoFeed(changes, []), args.url, settings.feed_secret.get_secret_value(), batch=args.batch)
    print(f"replay: {accepted} accepted, {duplicates} duplicates")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
