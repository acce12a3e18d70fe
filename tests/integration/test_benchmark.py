"""playbooks/benchmark.yml measures the kinds asked for, writes its report, and leaves the host as it found it.

A short run (one concurrency, one second per run, two rounds) of a kind that the host does not run (granian, whose
two instances take the load straight to their sockets between them), so that the host is deployed
back to its own kind at the end, with the
default URLs (the demo's page, JSON endpoint, WebSocket echo, a static file through nginx and through
Django), and with a setting besides the host's (a sweep of one: fewer workers) and one it is not for.
No figure is asserted beyond that the runs answered without error and that each setting ran with the
processes it asks for: machines differ.
"""

from __future__ import annotations

import json

import pytest
from conftest import (
    APP_HOME,
    KIND,
    KINDS,
    ON_DEBIAN_13_ONCE,
    ORIGIN,
    UNITS,
    curl,
    run_playbook,
    services_of,
    unit_files_of,
)

pytestmark = [pytest.mark.benchmark, ON_DEBIAN_13_ONCE]

MEASURED = ["granian"]
# Each kind goes through its settings twice, one round after the other.
ROUNDS = 2
# The settings granian is measured with, in the order of each round: the first of SETTINGS, then the host's own.
GRANIAN_SETTINGS = ("2 workers", "as deployed")
# The first is for granian, and runs before the host's own settings; the second is for daphne alone.
SETTINGS = [
    {"name": "2 workers", "workers": 2},
    {"name": "pings every 10 s", "extra_args": ["--ping-interval", "10"], "kinds": ["daphne"]},
]
# The runs of each kind with the default URLs and protocols on Debian 13,
# whose h2load has no HTTP/3: (URL, way in, protocol).
RUNS = {
    *((url, "nginx", protocol) for url in ("page", "json") for protocol in ("http/1.1", "h2")),
    ("page", "server", "http/1.1"),
    ("json", "server", "http/1.1"),
    ("websocket echo", "nginx", "websocket"),
    ("websocket echo", "server", "websocket"),
    *((url, "nginx", protocol) for url in ("static file", "static file via Django") for protocol in ("http/1.1", "h2")),
}


def host_state(host) -> dict:
    """What the benchmark must leave as it found: the release served, the units that run, the unit files there are.

    The unit files with their contents: a kind's settings (its workers, its arguments) are the host's again.
    """
    return {
        "release": host.file(f"{APP_HOME}/current").linked_to,
        "running": sorted(unit for kind in KINDS for unit in services_of(kind) if host.service(unit).is_running),
        "unit files": sorted(
            (name, host.file(f"/etc/systemd/system/{name}").sha256sum)
            for kind in KINDS
            for name in unit_files_of(kind)
            if host.file(f"/etc/systemd/system/{name}").exists
        ),
    }


@pytest.fixture(scope="module")
def benchmark(host, tmp_path_factory):
    report_dir = tmp_path_factory.mktemp("benchmark")
    before = host_state(host)
    result = run_playbook(
        "benchmark.yml",
        {
            "benchmark_kinds": MEASURED,
            "benchmark_settings": SETTINGS,
            "benchmark_concurrency": [4],
            "benchmark_duration": 1,
            "benchmark_warmup": 0,
            "benchmark_rounds": ROUNDS,
            "benchmark_report_dir": str(report_dir),
        },
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    reports = [path for path in report_dir.iterdir() if path.is_dir()]
    assert len(reports) == 1, reports
    return {"before": before, "report": reports[0]}


def test_the_report_has_a_row_for_each_run_of_each_kind_asked_for(benchmark):
    results = json.loads((benchmark["report"] / "results.json").read_text())
    rows = results["rows"]
    measured = [(kind, settings) for kind in MEASURED for settings in GRANIAN_SETTINGS]
    assert [(row["kind"], row["settings"]) for row in rows[:: len(RUNS)]] == measured
    for kind, settings in measured:
        runs = {
            (row["url"], row["through"], row["protocol"])
            for row in rows
            if row["kind"] == kind and row["settings"] == settings
        }
        assert runs == RUNS, f"{kind} ({settings}): {sorted(runs ^ RUNS)}"
        assert all(row["own"] == (settings == "as deployed") for row in rows if row["settings"] == settings)
    # Each row is the median of its rounds; the runs as measured, each setting in turn in each round.
    runs = results["runs"]
    assert len(runs) == ROUNDS * len(rows)
    assert [(run["kind"], run["settings"], run["round"]) for run in runs[:: len(RUNS)]] == [
        (kind, settings, number)
        for kind in MEASURED
        for number in range(1, ROUNDS + 1)
        for settings in GRANIAN_SETTINGS
    ]
    for row in rows:
        assert row["rounds"] == ROUNDS and len(row["rps_rounds"]) == ROUNDS, row
        assert min(row["rps_rounds"]) <= row["figures"]["rps"] <= max(row["rps_rounds"]), row
    for row in rows:
        figures = row["figures"]
        print(row["kind"], row["url"], row["through"], row["protocol"], figures, row["rss_mib"])
        assert figures["requests"] > 0 and figures["rps"] > 0, row
        assert figures["errors"] == 0, row
        assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"], row
        assert row["rss_mib"] > 10, row
    # The ratios the report states, for each kind.
    assert set(results["proxy_overhead"]) == set(MEASURED)
    assert set(results["versus"]["static file / static file via Django"]) == set(MEASURED)
    # The host's own settings against the other, per URL through nginx.
    sweep = results["sweep"]["granian"]
    assert set(sweep) == {"page", "json", "websocket echo", "static file", "static file via Django"}, sweep
    for entry in sweep.values():
        assert entry["best"] in GRANIAN_SETTINGS and 0 < entry["own_over_best"] <= 1, entry


def test_each_setting_ran_with_the_processes_it_asks_for(host, benchmark):
    """Fewer workers, fewer processes, and the host's own settings again after them: a change of settings
    restarts the kind. The deploy's handlers once restarted the host's own kind instead (the benchmark's kind
    was a variable of its include, which handlers do not see): the kind ran on with the setting before it,
    and every figure of a sweep after the first of a kind was that setting's again."""
    rows = json.loads((benchmark["report"] / "results.json").read_text())["rows"]
    seen = {
        settings: {row["processes"] for row in rows if row["settings"] == settings} for settings in GRANIAN_SETTINGS
    }
    assert all(len(counts) == 1 for counts in seen.values()), seen
    # granian's two instances, each with its workers (by default two per CPU and one, shared out between the
    # two, rounded up), besides what does not change with them (each instance's main process).
    workers = -(-(2 * int(host.check_output("nproc")) + 1) // 2)
    assert max(seen["as deployed"]) - max(seen["2 workers"]) == 2 * (workers - 2), seen


def test_the_report_and_its_chart_are_written(benchmark):
    report = (benchmark["report"] / "report.md").read_text()
    for text in (
        "# ASGI server benchmark",
        "## Proxy overhead",
        "## static file / static file via Django",
        "## json: `/whoami/`",
        "HTTP/3: measured: False",
        "| granian | server | http/1.1 | 4 |",
        "| granian (2 workers) | server | http/1.1 | 4 |",
        "## The host's own settings against the others measured, through nginx at 4 connections",
        "| granian | json |",
        f"kind the host runs, measured last and left running: {KIND}",
    ):
        assert text in report, f"'{text}' not in:\n{report[:3000]}"
    chart = (benchmark["report"] / "chart.png").read_bytes()
    assert chart.startswith(b"\x89PNG") and len(chart) > 20_000


def test_the_host_is_left_as_it_was_found(host, benchmark):
    assert host_state(host) == benchmark["before"]
    assert all(host.service(unit).is_running for unit in UNITS)
    assert curl(host, f"{ORIGIN}/whoami/").status == 200
    # The load generators stay for the next run.
    assert host.package("nghttp2-client").is_installed


def test_a_failure_on_the_way_leaves_the_host_on_its_kind_and_says_what_failed(host, benchmark, tmp_path):
    """A run that fails (a WebSocket URL the app does not route) goes back to the host's kind, then fails.

    Measured on the host's own kind with two workers, so that the deploy on the way changes its settings, not its
    kind (the host's kind after a switch is what the test above proves): the host has its own settings again.
    """
    before = host_state(host)
    result = run_playbook(
        "benchmark.yml",
        {
            "benchmark_kinds": [KIND],
            "benchmark_settings": [{"name": "2 workers", "workers": 2}],
            "benchmark_concurrency": [1],
            "benchmark_duration": 1,
            "benchmark_warmup": 0,
            "benchmark_urls": [{"name": "no such consumer", "path": "/ws/nope/", "websocket": True}],
            "benchmark_report_dir": str(tmp_path),
        },
    )
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output[-3000:]
    for text in (
        "The benchmark failed at Settings | Load it with WebSocket round trips",
        f"The host runs {KIND} again",
    ):
        assert text in output, f"'{text}' not in:\n{output[-3000:]}"
    assert host_state(host) == before
    assert curl(host, f"{ORIGIN}/whoami/").status == 200
    assert not any(tmp_path.iterdir()), "a report was written for a failed run"
