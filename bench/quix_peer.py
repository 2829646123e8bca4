"""The peer a user might pick instead: a Quix Streams application doing the same distinct count by authority,
its state in RocksDB. Run by `bench/__main__.py` in its own process; prints {"quix_per_s": ...}.

Usage: python -m bench.quix_peer BOOTSTRAP TOPIC N STATE_DIR
"""

from __future__ import annotations

import json
import sys
import time
import uuid

from quixstreams import Application


def main(bootstrap: str, topic_name: str, n: int, state_dir: str) -> None:
    app = Application(
        broker_address=bootstrap,
        consumer_group=f"quix-peer-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        producer_extra_config={"enable.idempotence": False, "acks": "all"},
        state_dir=state_dir,
        loglevel="WARNING",
        commit_every=1_000,
    )
    topic = app.topic(topic_name, value_deserializer="json", key_deserializer="str")
    marks: list[float] = []
    seen = 0

    def count(event: dict, state) -> int:  # noqa: ANN001
        linked = state.get("linked", {})
        p = event["procedure"]
        counted = event["event_type"] == "ProcedureLinked" and p.get("kind") == "online" and p.get("scope") in (
            "municipal", "central")
        if counted:
            linked[p["id"]] = 1
        else:
            linked.pop(p["id"], None)
        state.set("linked", linked)
        return len(linked)

    def tick(_: int) -> None:
        nonlocal seen
        seen += 1
        if seen == 1:
            marks.append(time.perf_counter())
        if seen == n:
            marks.append(time.perf_counter())
            app.stop()

    sdf = app.dataframe(topic)
    sdf = sdf.apply(count, stateful=True)
    sdf.update(tick)
    app.run()
    print(json.dumps({"quix_per_s": (n - 1) / (marks[1] - marks[0])}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
