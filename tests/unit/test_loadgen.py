"""Unit tests for the load generator's figures and its form upload (tests/integration/loadgen.py)."""

import http.client
import importlib.util
import ssl
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "integration" / "loadgen.py"
spec = importlib.util.spec_from_file_location("loadgen", SCRIPT)
loadgen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(loadgen)


def test_latencies_give_percentiles_throughput_and_the_worst():
    totals = loadgen.Totals()
    for millisecond in range(1, 101):
        totals.request(millisecond / 1000, None)
    result = totals.result(seconds=10)
    assert result["requests"] == 100 and result["failures"] == 0
    assert result["requests_per_s"] == 10.0
    assert result["latency_p50_s"] == 0.051
    assert result["latency_p99_s"] == 0.1
    assert result["latency_max_s"] == result["worst_latency_s"] == 0.1


def test_failures_are_counted_by_what_failed_with_a_few_samples():
    totals = loadgen.Totals()
    for number in range(7):
        totals.request(0.01, f"POST /upload/: status 502 ({number})")
    totals.request(0.01, "stream: cut short after 3 of 31 lines")
    with totals.lock:
        totals.fail("WebSocket closed without a close frame")
    result = totals.result(seconds=1)
    assert result["failures"] == 9
    assert result["failures_by_what"] == {"POST": 7, "stream": 1, "WebSocket": 1}
    assert len(result["failure_samples"]) == loadgen.SAMPLES


def test_no_request_no_latency():
    assert loadgen.Totals().result(seconds=0)["latency_max_s"] == 0.0


def test_the_upload_is_a_form_with_its_csrf_token_and_the_file_unchanged():
    payload = bytes(range(256)) * 16
    body, content_type = loadgen.multipart("t0ken", payload)
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
    assert fields["csrfmiddlewaretoken"].get_content() == "t0ken"
    assert fields["file"].get_content() == payload
    assert fields["file"].get_filename() == "upload.bin"


def test_the_light_loads_static_file_is_one_the_demo_project_ships():
    """nginx serves it from the current release (collectstatic gathers the apps' static directories)."""
    demo = Path(__file__).resolve().parents[1] / "demo_project"
    relative = loadgen.STATIC_FILE.removeprefix("/static/")
    assert list(demo.glob(f"*/static/{relative}")), f"{loadgen.STATIC_FILE} is not in the demo project"


class ClosingConnection:
    """A connection whose first request fails with ``error``, as one that the server has just closed."""

    def __init__(self, error: Exception) -> None:
        self.error, self.requests = error, 0

    def request(self, method, path, body=None, headers=None) -> None:
        self.requests += 1
        if self.requests == 1 and self.error is not None:
            raise self.error

    def getresponse(self):
        class Answer:
            status = 200

            def read(self) -> bytes:
                return b"ok"

        return Answer()

    def close(self) -> None:
        pass


CLOSED_CONNECTION_ERRORS = [
    http.client.RemoteDisconnected("Remote end closed connection without response"),
    ConnectionResetError(104, "Connection reset by peer"),
    BrokenPipeError(32, "Broken pipe"),
    ssl.SSLEOFError(8, "EOF occurred in violation of protocol"),
]


@pytest.mark.parametrize("error", CLOSED_CONNECTION_ERRORS, ids=lambda error: type(error).__name__)
def test_a_request_on_a_kept_alive_connection_the_server_closed_is_sent_again_once(monkeypatch, error):
    """HTTP lets a client send a request again on a new connection when the kept-alive one it used was closed
    before any answer (nginx closes idle client connections when it reloads); over TLS that close is an EOF."""
    totals = loadgen.Totals()
    client = loadgen.Client("https://localhost:8443", ssl.create_default_context(), totals)
    client.connection = ClosingConnection(error)
    monkeypatch.setattr(loadgen.http.client, "HTTPSConnection", lambda *args, **kwargs: ClosingConnection(None))
    status, _dummy, body = client.send("POST", "/upload/", b"form")
    assert (status, body) == (200, b"ok")
    assert totals.result(1.0)["retried_on_closed_keepalive"] == 1


@pytest.mark.parametrize("error", CLOSED_CONNECTION_ERRORS, ids=lambda error: type(error).__name__)
def test_a_request_on_a_new_connection_is_not_sent_again(monkeypatch, error):
    """A new connection that fails is a failure: nothing says that the server did not take the request."""
    totals = loadgen.Totals()
    client = loadgen.Client("https://localhost:8443", ssl.create_default_context(), totals)
    monkeypatch.setattr(loadgen.http.client, "HTTPSConnection", lambda *args, **kwargs: ClosingConnection(error))
    with pytest.raises(type(error)):
        client.send("POST", "/upload/", b"form")
    assert totals.result(1.0)["retried_on_closed_keepalive"] == 0


def test_busy_clients_post_every_25th_request_and_some_post_first():
    """A short step on a slow host (1,497 requests from 64 clients, fewer than 25 each) still meets uploads."""
    first_round = [loadgen.posts_upload(number, 1) for number in range(loadgen.BUSY_CLIENTS)]
    assert sum(first_round) == 2
    for number in range(loadgen.BUSY_CLIENTS):
        turns = [sent for sent in range(1, 101) if loadgen.posts_upload(number, sent)]
        assert turns == list(range(turns[0], 101, loadgen.UPLOAD_EVERY)), turns
        assert turns[0] <= loadgen.UPLOAD_EVERY, turns


def test_the_recycled_workers_close_reason_is_the_one_the_servers_send():
    drain_file = SCRIPT.parents[2] / "roles" / "asgi_server" / "files" / "asgi_stack_drain.py"
    drain_spec = importlib.util.spec_from_file_location("asgi_stack_drain", drain_file)
    drain = importlib.util.module_from_spec(drain_spec)
    drain_spec.loader.exec_module(drain)
    assert loadgen.RECYCLED_REASON == drain.RECYCLED_REASON
    assert drain.close_reason(True, "server stopping") == loadgen.RECYCLED_REASON
    assert drain.close_reason(False, "server stopping") == "server stopping"


def test_reconnections_after_a_recycled_workers_close_are_counted_apart():
    figures = loadgen.reconnection_figures()
    loadgen.count_reconnection(figures, 0.4)
    loadgen.count_reconnection(figures["after_recycling"], 4.3)
    loadgen.count_reconnection(figures["after_recycling"], 0.2)
    assert figures == {
        "reconnects": 1,
        "worst_reconnect_s": 0.4,
        "reconnects_over_2_s": 0,
        "after_recycling": {"reconnects": 2, "worst_reconnect_s": 4.3, "reconnects_over_2_s": 1},
    }
