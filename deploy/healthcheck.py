"""The image's HEALTHCHECK: healthy when the service in this container answers `/healthz` on its port.

The same image runs any of the four services; the one running here is the one whose port answers (the port
variables, or the defaults 8001..8004).
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from shared.settings import SERVICES, Settings


def main() -> int:
    settings = Settings()
    for service in SERVICES:
        url = f"http://127.0.0.1:{settings.port_of(service)}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a fixed loopback URL
                if response.status == 200:
                    return 0
        except (urllib.error.URLError, OSError):
            continue
    print("healthcheck: no service answers /healthz", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
