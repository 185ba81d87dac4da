"""The container's health check: exit 0 when the head's REST API answers its health route.

Runs inside the container as the head's own user on loopback, which the web app trusts
without a token. ``PYCLUSTER_DASHBOARD_PORT`` (default 8787) is the port it asks.
"""

import json
import os
import sys
import urllib.request

port = os.environ.get("PYCLUSTER_DASHBOARD_PORT", "8787")
url = f"http://127.0.0.1:{port}/api/processing/health"
try:
    with urllib.request.urlopen(url, timeout=4) as answer:
        status = json.load(answer).get("status")
except Exception as exc:  # refused, timed out, not JSON: unhealthy, and say why
    print(f"unhealthy: {url}: {exc}", file=sys.stderr)
    sys.exit(1)
# "degraded" (no workers yet) is still a head that serves: healthy for the container
sys.exit(0 if status in {"healthy", "degraded"} else 1)
