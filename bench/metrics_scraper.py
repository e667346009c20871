"""A Prometheus-like scraper for benchmarks: every INTERVAL seconds it reads /metrics from each
ops port over one kept-alive HTTP/1.1 connection per port (as Prometheus does), so the machine
pays for the roles' rendering and not for starting a scraper process per scrape. Run in both
modes of an on/off comparison, it costs both the same. Prints its counts on SIGTERM.

Usage: python3 bench/metrics_scraper.py INTERVAL PORT [PORT...]"""

import http.client
import signal
import sys
import time

interval = float(sys.argv[1])
ports = [int(port) for port in sys.argv[2:]]
connections = {port: http.client.HTTPConnection("127.0.0.1", port, timeout=5) for port in ports}
counts = {"scrapes": 0, "bytes": 0, "failures": 0}


def stop(*_):
    print(f"metrics scraper: {counts['scrapes']} scrapes, {counts['bytes']} bytes, {counts['failures']} failures", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
while True:
    for port, connection in connections.items():
        try:
            connection.request("GET", "/metrics")
            counts["bytes"] += len(connection.getresponse().read())
            counts["scrapes"] += 1
        except (OSError, http.client.HTTPException):
            counts["failures"] += 1
            connection.close()
    time.sleep(interval)
