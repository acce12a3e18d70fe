"""A load generator that runs inside the test host, against nginx there.

    python3 loadgen.py light BASE CAFILE STOPFILE RESULTFILE
    python3 loadgen.py busy BASE CAFILE STOPFILE RESULTFILE

BASE is the site's URL (https://localhost). Both profiles run until STOPFILE
exists, then write their figures to RESULTFILE as JSON.

light: two clients, each on one kept-alive HTTPS connection, GET /whoami/
(Django) then a static file (nginx, from the current release's link: a
link switch that left no link for a moment would answer 404), with 50 ms
pauses: steady traffic (about 30 requests a second to Django) that leaves
the host's CPUs to the deploy under test. With 10 ms pauses (about 95 a
second) it took 0.6 of a CPU, and the suite's steps under load ran slower.

busy: a busy site, as many requests as the host answers:
- 64 clients on kept-alive connections, back to back, GET /whoami/; every
  25th request of each is a 1 MiB file posted to /upload/ through its
  CSRF-protected form (Django reads it whole and answers its SHA-256, which
  must match). The clients' turns are staggered (``posts_upload``): some
  post with their first request, so that uploads are in flight from the
  start and a short step on a slow host meets some too;
- 4 streams of 3 s (/stream/?seconds=3) always in flight, so that every
  restart meets some: each must arrive whole, up to its ``end`` line;
- 8 WebSockets (/ws/echo/) opened before the step, each sending a message
  every 0.5 s and waiting for its echo. One that closes must have received
  a close frame (not a reset); its client connects again at once, and the
  time until a new connection answers is measured (those over 2 s are
  counted); each answers once more at the end. A close frame whose reason
  says that a worker was recycled after its maximum of requests
  (RECYCLED_REASON) is the recycling's, not the step's: the reconnections
  after those are counted apart (``after_recycling``).

A request counts as failed when it gets no answer or a status other than
2xx. As browsers and HTTP libraries do (RFC 9112, 9.3.1), a request whose
kept-alive connection turns out to be closed before any byte of the answer
(nginx closes idle connections when it reloads) is sent once more on a new
connection; those are counted apart. The result has the totals, the
latencies (p50, p99, max) and the throughput.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import os
import re
import ssl
import sys
import threading
import time
import uuid
from urllib.parse import urlsplit

UPLOAD_SIZE = 1024 * 1024
BUSY_CLIENTS = 64
UPLOAD_EVERY = 25
STREAM_SECONDS = 3
RECONNECT_WITHIN_S = 2.0
# The reason of a recycled worker's close frames: roles/asgi_server/files/asgi_stack_drain.py's RECYCLED_REASON
# (tests/unit/test_loadgen.py checks that they agree; this file runs alone in the test host).
RECYCLED_REASON = "worker recycled"
SAMPLES = 5
LIGHT_PAUSE_S = 0.05
# A static file of the demo project, served by nginx.
STATIC_FILE = "/static/core/site.css"


class Totals:
    """Figures shared by the clients' threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.figures: dict = {
            "requests": 0,
            "failures": 0,
            "failure_samples": [],
            "retried_on_closed_keepalive": 0,
        }

    def count(self, name: str, number: int = 1) -> None:
        with self.lock:
            self.figures[name] = self.figures.get(name, 0) + number

    def request(self, elapsed: float, failure: str | None) -> None:
        with self.lock:
            self.figures["requests"] += 1
            self.latencies.append(elapsed)
            if failure:
                self.fail(failure)

    def fail(self, failure: str) -> None:
        """Counts a failure, and by what failed (its first word); the caller holds the lock."""
        self.figures["failures"] += 1
        what = failure.split(" ", 1)[0].rstrip(":")
        by_what = self.figures.setdefault("failures_by_what", {})
        by_what[what] = by_what.get(what, 0) + 1
        if len(self.figures["failure_samples"]) < SAMPLES:
            self.figures["failure_samples"].append(failure)

    def result(self, seconds: float) -> dict:
        latencies = sorted(self.latencies)

        def percentile(share: float) -> float:
            return round(latencies[min(len(latencies) - 1, int(share * len(latencies)))], 3) if latencies else 0.0

        return {
            **self.figures,
            "seconds": round(seconds, 1),
            "requests_per_s": round(self.figures["requests"] / seconds, 1) if seconds else 0.0,
            "latency_p50_s": percentile(0.50),
            "latency_p99_s": percentile(0.99),
            "latency_max_s": round(latencies[-1], 3) if latencies else 0.0,
            # The light profile's name for the worst latency.
            "worst_latency_s": round(latencies[-1], 3) if latencies else 0.0,
        }


class Client:
    """One kept-alive HTTPS connection, with the one retry that HTTP allows on a closed idle connection."""

    def __init__(self, base: str, context: ssl.SSLContext, totals: Totals) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port or 443
        self.context, self.totals = context, totals
        self.connection: http.client.HTTPSConnection | None = None
        self.base = base

    def send(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        """Returns (status, headers, body) or raises the last error."""
        for attempt in (1, 2):
            reused, answered = self.connection is not None, False
            try:
                if self.connection is None:
                    self.connection = http.client.HTTPSConnection(
                        self.host, self.port, context=self.context, timeout=60
                    )
                self.connection.request(method, path, body=body, headers=headers or {})
                response = self.connection.getresponse()
                answered = True
                return response.status, response, response.read()
            # nginx closes an idle client connection (a reload, keepalive_timeout): a request sent on it at
            # that moment meets a closed connection, a reset or, over TLS, an EOF with no close_notify.
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ssl.SSLEOFError):
                self.close()
                if reused and not answered and attempt == 1:
                    self.totals.count("retried_on_closed_keepalive")
                    continue
                raise
            except (OSError, http.client.HTTPException):
                self.close()
                raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
        self.connection = None

    def timed(
        self, method: str, path: str, check, body: bytes | None = None, headers: dict | None = None
    ) -> str | None:
        """Sends a request and counts it: failed unless answered 2xx and ``check`` accepts the body; returns why."""
        started = time.monotonic()
        try:
            status, _dummy, data = self.send(method, path, body, headers)
            failure = None if 200 <= status < 300 else f"{method} {path}: status {status}"
            failure = failure or check(data)
        except (OSError, http.client.HTTPException) as error:
            failure = f"{method} {path}: {type(error).__name__}: {error}"
        self.totals.request(time.monotonic() - started, failure)
        return failure


def light_client(base: str, context: ssl.SSLContext, stop_file: str, totals: Totals) -> None:
    client = Client(base, context, totals)
    while not os.path.exists(stop_file):
        client.timed("GET", "/whoami/", lambda data: None)
        client.timed("GET", STATIC_FILE, lambda data: None if data else "an empty answer")
        time.sleep(LIGHT_PAUSE_S)


def posts_upload(client_number: int, sent: int) -> bool:
    """Whether a busy client's ``sent``-th request (from 1) is its upload: every UPLOAD_EVERY-th, staggered."""
    return (sent + client_number) % UPLOAD_EVERY == 0


def busy_client(base: str, context: ssl.SSLContext, stop_file: str, totals: Totals, number: int) -> None:
    client = Client(base, context, totals)
    payload = os.urandom(UPLOAD_SIZE)
    digest = hashlib.sha256(payload).hexdigest()
    token = None
    sent = 0
    while not os.path.exists(stop_file):
        sent += 1
        if not posts_upload(number, sent):
            client.timed("GET", "/whoami/", lambda data: None)
            continue
        if token is None:
            token = csrf_token(client)
            if token is None:
                with totals.lock:
                    totals.fail("GET /upload/: no CSRF token")
                continue
        body, content_type = multipart(token, payload)
        headers = {
            "Content-Type": content_type,
            "Cookie": f"csrftoken={token}",
            "Origin": base,
            "Referer": f"{base}/upload/",
        }

        def matches(data: bytes) -> str | None:
            answer = json.loads(data)
            return None if answer.get("sha256") == digest else f"POST /upload/: answered {answer}"

        client.timed("POST", "/upload/", matches, body, headers)
        totals.count("uploads")


def csrf_token(client: Client) -> str | None:
    """The CSRF cookie that the upload form sets (Django accepts the cookie's value as the form's token)."""
    try:
        status, response, _dummy = client.send("GET", "/upload/")
    except (OSError, http.client.HTTPException):
        return None
    cookie = re.search(r"csrftoken=([A-Za-z0-9]+)", response.getheader("Set-Cookie") or "")
    return cookie.group(1) if status == 200 and cookie else None


def multipart(token: str, payload: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{token}\r\n'.encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="upload.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode(),
        payload,
        f"\r\n--{boundary}--\r\n".encode(),
    ]
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def streamer(base: str, context: ssl.SSLContext, stop_file: str, totals: Totals) -> None:
    """Keeps one long response in flight; each must arrive whole."""
    client = Client(base, context, totals)
    lines = STREAM_SECONDS * 10

    def whole(data: bytes) -> str | None:
        text = data.decode()
        expected = "".join(f"{number}\n" for number in range(lines)) + "end\n"
        return None if text == expected else f"stream: cut short after {len(text.splitlines())} of {lines + 1} lines"

    while not os.path.exists(stop_file):
        failure = client.timed("GET", f"/stream/?seconds={STREAM_SECONDS}", whole)
        totals.count("streams")
        totals.count("streams_failed", 1 if failure else 0)


async def websocket(base: str, context: ssl.SSLContext, stop_file: str, totals: Totals, figures: dict) -> None:
    """One WebSocket held open through the step; see the module's docstring."""
    import websockets

    url = "wss" + base.removeprefix("https") + "/ws/echo/"
    origin = base
    began = time.monotonic()
    try:
        connection = await websockets.connect(url, ssl=context, origin=origin)
    except (OSError, TimeoutError, websockets.WebSocketException) as error:
        with totals.lock:
            totals.fail(f"WebSocket: not opened, {time.monotonic() - began:.1f} s on: {refused(error)}")
        return
    figures["opened"] += 1
    number = 0
    while True:
        number += 1
        try:
            await connection.send(f"message {number}")
            echo = await asyncio.wait_for(connection.recv(), 10)
            if echo != f"message {number}":
                raise RuntimeError(f"echo {echo!r} for message {number}")
        except websockets.ConnectionClosed as closed:
            recycled = closed.rcvd is not None and closed.rcvd.reason == RECYCLED_REASON
            if closed.rcvd is None:
                figures["resets"] += 1
                with totals.lock:
                    totals.fail(f"WebSocket closed without a close frame: {closed}")
            else:
                figures["closed_with_frame"] += 1
                figures["close_codes"][str(closed.rcvd.code)] = figures["close_codes"].get(str(closed.rcvd.code), 0) + 1
            started = time.monotonic()
            last = "none"
            while time.monotonic() - started < 60:
                try:
                    connection = await websockets.connect(url, ssl=context, origin=origin)
                    await connection.send("reconnected")
                    await asyncio.wait_for(connection.recv(), 10)
                    break
                except (TimeoutError, OSError, websockets.WebSocketException) as error:
                    last = refused(error)
                    await asyncio.sleep(0.1)
            else:
                with totals.lock:
                    totals.fail(f"WebSocket: no new connection within 60 s (the last attempt: {last})")
                return
            count_reconnection(figures["after_recycling"] if recycled else figures, time.monotonic() - started)
            continue
        except (TimeoutError, OSError, RuntimeError) as error:
            with totals.lock:
                totals.fail(f"WebSocket: {type(error).__name__}: {error}")
            return
        if os.path.exists(stop_file):
            figures["open_at_end"] += 1
            await connection.close()
            return
        await asyncio.sleep(0.5)


def count_reconnection(figures: dict, waited: float) -> None:
    """Counts a reconnection that took ``waited`` seconds into ``figures``."""
    figures["reconnects"] += 1
    figures["worst_reconnect_s"] = max(figures["worst_reconnect_s"], round(waited, 3))
    figures["reconnects_over_2_s"] += 1 if waited > RECONNECT_WITHIN_S else 0


def reconnection_figures() -> dict:
    """The figures of a step's WebSockets' reconnections: those after a stop's close frame (or a reset), and apart
    (``after_recycling``) those after a recycled worker's."""
    counted = {"reconnects": 0, "worst_reconnect_s": 0.0, "reconnects_over_2_s": 0}
    return {**counted, "after_recycling": dict(counted)}


def refused(error: BaseException) -> str:
    """An error of a WebSocket client, with what answered a refused handshake (its status, ``Server`` header and
    the start of its body): whether nginx or the server refused it, and why."""
    response = getattr(error, "response", None)
    if response is None:
        return f"{type(error).__name__}: {error}"
    server = response.headers.get("Server", "no Server header")
    body = bytes(response.body or b"")[:300].decode(errors="replace")
    return f"{type(error).__name__}: {error} (Server: {server}; body: {body!r})"


def websockets_thread(base: str, context: ssl.SSLContext, stop_file: str, totals: Totals, count: int) -> None:
    figures = {"opened": 0, "open_at_end": 0, "closed_with_frame": 0, "close_codes": {}, "resets": 0}
    figures.update(reconnection_figures())
    totals.figures["websockets"] = figures

    async def all_of_them() -> None:
        await asyncio.gather(*(websocket(base, context, stop_file, totals, figures) for _dummy in range(count)))

    try:
        asyncio.run(all_of_them())
    except Exception as error:  # any error of the client is a failure to report
        with totals.lock:
            totals.fail(f"WebSockets: {type(error).__name__}: {error}")


def main() -> None:
    profile, base, ca_file, stop_file, result_file = sys.argv[1:6]
    context = ssl.create_default_context(cafile=ca_file)
    totals = Totals()
    if profile == "light":
        threads = [
            threading.Thread(target=light_client, args=(base, context, stop_file, totals)) for _dummy in range(2)
        ]
    elif profile == "busy":
        threads = [threading.Thread(target=websockets_thread, args=(base, context, stop_file, totals, 8))]
        threads += [threading.Thread(target=streamer, args=(base, context, stop_file, totals)) for _dummy in range(4)]
        threads += [
            threading.Thread(target=busy_client, args=(base, context, stop_file, totals, number))
            for number in range(BUSY_CLIENTS)
        ]
    else:
        sys.exit(f"unknown profile {profile!r}: light or busy")
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with open(result_file, "w") as out:
        json.dump(totals.result(time.monotonic() - started), out)


if __name__ == "__main__":
    main()
