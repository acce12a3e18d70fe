"""A load generator that runs inside the test host: GET requests back to back.

    python3 loadgen.py URL CAFILE STOPFILE RESULTFILE [CLIENTS [PAUSE]]

Each client keeps one HTTPS connection open (as browsers do) and sends the
next request PAUSE seconds (default 0.01) after the last one was answered,
until STOPFILE exists: steady traffic that leaves the host's CPUs to the
deploy under test. A
request counts as failed when it gets no answer or a status other than 2xx;
the client then opens a new connection. As browsers and HTTP libraries do
(RFC 9112, 9.3.1), a GET whose kept-alive connection turns out to be closed
before any byte of the answer (nginx closes idle connections when it
reloads) is sent once more on a new connection; those are counted apart. RESULTFILE gets the totals as JSON:
requests, failures (with the first few reasons) and the worst latency.
"""

import http.client
import json
import os
import ssl
import sys
import threading
import time
from urllib.parse import urlsplit


def client(url, context, stop_file, pause, totals, lock):
    parts = urlsplit(url)
    connection = None
    while not os.path.exists(stop_file):
        started = time.monotonic()
        failure = None
        for attempt in (1, 2):
            reused, answered = connection is not None, False
            try:
                if connection is None:
                    connection = http.client.HTTPSConnection(
                        parts.hostname, parts.port or 443, context=context, timeout=60
                    )
                connection.request("GET", parts.path or "/")
                response = connection.getresponse()
                answered = True
                response.read()
                failure = None if 200 <= response.status < 300 else f"status {response.status}"
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as error:
                connection = None
                failure = f"{type(error).__name__}: {error}"
                if reused and not answered and attempt == 1:
                    with lock:
                        totals["retried_on_closed_keepalive"] += 1
                    continue
                break
            except (OSError, http.client.HTTPException) as error:
                connection = None
                failure = f"{type(error).__name__}: {error}"
                break
        elapsed = time.monotonic() - started
        with lock:
            totals["requests"] += 1
            totals["worst_latency_s"] = max(totals["worst_latency_s"], round(elapsed, 3))
            if failure:
                totals["failures"] += 1
                if len(totals["failure_samples"]) < 5:
                    totals["failure_samples"].append(failure)
        time.sleep(pause)


def main():
    url, ca_file, stop_file, result_file = sys.argv[1:5]
    clients = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    pause = float(sys.argv[6]) if len(sys.argv) > 6 else 0.01
    context = ssl.create_default_context(cafile=ca_file)
    totals = {
        "requests": 0,
        "failures": 0,
        "failure_samples": [],
        "worst_latency_s": 0.0,
        "retried_on_closed_keepalive": 0,
    }
    lock = threading.Lock()
    threads = [
        threading.Thread(target=client, args=(url, context, stop_file, pause, totals, lock)) for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with open(result_file, "w") as out:
        json.dump(totals, out)


if __name__ == "__main__":
    main()
