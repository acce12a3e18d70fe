"""Unit tests for the load generator's figures and its form upload (tests/integration/loadgen.py)."""

import importlib.util
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path

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
