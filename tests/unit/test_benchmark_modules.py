"""Unit tests for the benchmark's modules: h2load's command lines, the report's files and chart."""

import importlib.util
from pathlib import Path

import pytest
from conftest import benchmark_row as row

MODULES = Path(__file__).resolve().parents[2] / "plugins" / "modules"


def load(name):
    spec = importlib.util.spec_from_file_location(name, MODULES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


http_load = load("http_load")
benchmark_report = load("benchmark_report")
PARAMS = {
    "executable": "h2load",
    "protocol": "http/1.1",
    "concurrency": 5,
    "duration": 3,
    "warmup": 1,
    "headers": ["X-Forwarded-Proto: https"],
    "sockets": [],
    "connect_to": "127.0.0.1:443",
    "url": "https://localhost/whoami/",
}


def test_through_nginx_one_h2load_connects_to_the_address_with_the_url_s_name():
    (line,) = http_load.commands(PARAMS, "/tmp/logs")
    assert line[0] == "h2load" and line[-1] == "https://localhost/whoami/"
    for option in (
        "--h1",
        "--clients=5",
        "--duration=3",
        "--warm-up-time=1",
        "--max-concurrent-streams=1",
        "--connect-to=127.0.0.1:443",
        "--log-file=/tmp/logs/0.log",
        "--header=X-Forwarded-Proto: https",
    ):
        assert option in line, line
    (h2,) = http_load.commands({**PARAMS, "protocol": "h2"}, "/tmp/logs", "  --alpn-list=<LIST>")
    assert "--alpn-list=h2" in h2 and "--h1" not in h2
    # Debian 12's h2load (1.52) names the option --npn-list.
    (old,) = http_load.commands({**PARAMS, "protocol": "h2"}, "/tmp/logs", "  --npn-list=<LIST>")
    assert "--npn-list=h2" in old and not any(option.startswith("--alpn") for option in old)


def test_straight_to_several_sockets_the_connections_are_shared_out():
    lines = http_load.commands(
        {**PARAMS, "connect_to": None, "url": "http://localhost/", "sockets": ["/run/a/1.sock", "/run/a/2.sock"]},
        "/tmp/logs",
    )
    assert [line for line in lines[0] if line.startswith(("--clients", "--base-uri", "--log-file"))] == [
        "--clients=3",
        "--log-file=/tmp/logs/0.log",
        "--base-uri=unix:/run/a/1.sock",
    ]
    assert "--clients=2" in lines[1] and "--base-uri=unix:/run/a/2.sock" in lines[1]
    assert not any(option.startswith("--connect-to") for line in lines for option in line)
    one = http_load.commands({**PARAMS, "connect_to": None, "concurrency": 1, "sockets": ["/a", "/b"]}, "/tmp")
    assert len(one) == 1


@pytest.mark.skipif(benchmark_report.MATPLOTLIB_ERROR is not None, reason="matplotlib is not installed")
def test_the_chart_is_drawn_for_every_url_and_kind(tmp_path):
    rows = [
        row(kind, url, through, 100.0 * concurrency, "websocket" if url == "ws" else "http/1.1", concurrency)
        for kind in ("uvicorn", "daphne")
        for url in ("json", "ws")
        for through in ("nginx", "server")
        for concurrency in (1, 16)
    ]
    chart = tmp_path / "chart.png"
    benchmark_report.chart(rows, [{"name": "json", "path": "/j"}, {"name": "ws", "path": "/w"}], {"host": "h"}, chart)
    assert chart.read_bytes().startswith(b"\x89PNG") and chart.stat().st_size > 20_000
    svg = tmp_path / "chart.svg"
    benchmark_report.chart(rows, [{"name": "json", "path": "/j"}], {"host": "h"}, svg)
    assert "<svg" in svg.read_text()[:500]
