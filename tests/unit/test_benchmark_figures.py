"""Unit tests for the benchmark's figures and report (plugins/module_utils/benchmark.py)."""

from ansible_collections.asgi.stack.plugins.module_utils import benchmark
from conftest import benchmark_row as row

H2LOAD_SUMMARY = """
finished in 5.00s, 851.20 req/s, 1.23MB/s
requests: 4300 total, 4300 started, 4290 done, 4280 succeeded, 10 failed, 4 errored, 6 timeout
status codes: 4280 2xx, 0 3xx, 0 4xx, 0 5xx
"""


def test_percentiles_are_nearest_rank():
    values = list(range(1, 101))
    assert benchmark.percentile(values, 0.5) == 50
    assert benchmark.percentile(values, 0.99) == 99
    assert benchmark.percentile([7.0], 0.99) == 7.0
    assert benchmark.percentile([], 0.5) == 0.0


def test_figures_count_answered_requests_per_second_and_errors_apart():
    result = benchmark.figures([10.0] * 90 + [50.0] * 10, errors=3, seconds=10)
    assert result == {
        "requests": 103,
        "errors": 3,
        "rps": 10.0,
        "p50_ms": 10.0,
        "p90_ms": 10.0,
        "p99_ms": 50.0,
        "max_ms": 50.0,
    }


# h2load's --log-file with the warm-up ending at 2000 us: a request that ended in
# the warm-up, one that started in it and ended after it, answers, a broken
# stream, an answer 502, and a line that is none.
H2LOAD_LOG = (
    "1000\t200\t500\n1000\t500\t5000\n3000\t200\t12000\n3100\t-1\t900\n3200\t502\t300\n3300\t301\t2000\ngarbage\n"
)


def test_h2load_log_counts_failures_by_cause_and_leaves_out_what_ended_in_the_warm_up():
    log = H2LOAD_LOG
    latencies, failures = benchmark.h2load_log(log, since_us=2000)
    assert latencies == [12.0, 2.0]
    assert failures == {"broken": 1, "502": 1, "500": 1}


def test_h2load_counts_come_from_its_summary():
    counts = benchmark.h2load_counts(H2LOAD_SUMMARY)
    assert counts["failed"] == 10 and counts["errored"] == 4 and counts["timeout"] == 6
    assert benchmark.h2load_counts("h2load: no summary") == {}


def test_memory_sums_the_processes_of_the_units_named():
    ps = "  1000 demo-uvicorn.service\n  2048 demo-uvicorn.service\n 5000 nginx.service\n 100 -\n"
    assert benchmark.units_rss_kib(ps, ["demo-uvicorn.service"]) == 3048
    assert benchmark.units_rss_kib(ps, []) == 0
    assert benchmark.units_processes(ps, ["demo-uvicorn.service"]) == 2
    assert benchmark.units_processes(ps, []) == 0


def test_connections_are_shared_out_evenly_among_instances():
    assert benchmark.shares(16, 2) == [8, 8]
    assert benchmark.shares(5, 2) == [3, 2]
    assert benchmark.shares(1, 2) == [1, 0]


ROWS = [
    row("uvicorn", "json", "nginx", 950.0),
    row("uvicorn", "json", "server", 1000.0),
    row("uvicorn", "json", "nginx", 400.0, concurrency=1),
    row("uvicorn", "json", "server", 500.0, concurrency=1),
    row("uvicorn", "json", "nginx", 900.0, protocol="h2"),
    row("uvicorn", "static", "nginx", 20000.0),
    row("uvicorn", "static via Django", "nginx", 800.0),
    row("daphne", "json", "nginx", 300.0),
    row("daphne", "json", "server", 400.0),
    row("daphne", "static", "nginx", 19000.0),
    row("daphne", "static via Django", "nginx", 0.0),
]
URLS = [
    {"name": "json", "path": "/whoami/"},
    {"name": "static", "path": "/static/x.js", "versus": "static via Django"},
    {"name": "static via Django", "path": "/django-static/x.js"},
]


def test_proxy_overhead_divides_nginx_by_the_server_at_the_highest_concurrency_and_protocol_alike():
    assert benchmark.proxy_overhead(ROWS) == {"uvicorn": {"json": 0.95}, "daphne": {"json": 0.75}}


def test_versus_divides_one_url_by_another_and_a_zero_gives_no_ratio():
    assert benchmark.versus(ROWS, URLS) == {"static / static via Django": {"uvicorn": 25.0, "daphne": None}}


def test_the_fastest_kind_per_url_through_nginx():
    assert benchmark.fastest(ROWS) == {"json": "uvicorn", "static": "uvicorn", "static via Django": "uvicorn"}


def test_the_markdown_report_has_the_ratios_and_a_row_per_measurement():
    text = benchmark.markdown(ROWS, URLS, {"host": "web1", "cpus": 2})
    assert text.startswith("# ASGI server benchmark: web1")
    assert "- cpus: 2" in text
    assert "| uvicorn | 0.95 |" in text and "| daphne | 0.75 |" in text
    assert "| daphne | n/a |" in text
    assert "## json: `/whoami/`" in text
    failed = {**ROWS[0], "figures": {**ROWS[0]["figures"], "errors": 3}, "failures": {"500": 2, "broken": 1}}
    assert "| 3 (500: 2, broken: 1) |" in benchmark.markdown([failed], URLS, {"host": "web1"})
    assert text.count("| uvicorn | nginx | http/1.1 | 64 | 950.0 |") == 1
    assert (
        len(
            [
                line
                for line in text.splitlines()
                if line.startswith(("| uvicorn | nginx", "| uvicorn | server", "| daphne | nginx", "| daphne | server"))
            ]
        )
        == 11
    )


def test_the_sweep_compares_the_hosts_own_settings_with_the_best_and_the_ratios_leave_the_others_out():
    other = {**row("uvicorn", "json", "nginx", 1200.0), "settings": "2 workers", "own": False}
    other_server = {**row("uvicorn", "json", "server", 100.0), "settings": "2 workers", "own": False}
    rows = [*({**mine, "settings": "as deployed", "own": True} for mine in ROWS), other, other_server]

    def entry(own_rps, best, best_rps, own_over_best):
        return {
            "own_rps": own_rps,
            "best": best,
            "best_rps": best_rps,
            "own_over_best": own_over_best,
            "own_rps_rounds": [own_rps],
            "best_rps_rounds": [best_rps],
        }

    assert benchmark.sweep(rows) == {
        "uvicorn": {
            "json": entry(950.0, "2 workers", 1200.0, 0.79),
            # Measured with the host's own settings alone: they are the best.
            "static": entry(20000.0, "as deployed", 20000.0, 1.0),
            "static via Django": entry(800.0, "as deployed", 800.0, 1.0),
        }
    }
    assert benchmark.sweep(ROWS) == {}
    assert benchmark.own(rows) == rows[: len(ROWS)]
    text = benchmark.markdown(rows, URLS, {"host": "web1"})
    assert "| uvicorn | json | 950.0 | 1200.0 | 2 workers | 0.79 |" in text
    # The ratios are of the host's own settings; the table of the URL has every row.
    assert "| uvicorn | 0.95 |" in text
    assert "| uvicorn (2 workers) | nginx | http/1.1 | 64 | 1200.0 |" in text
    assert "own / best" not in benchmark.markdown(ROWS, URLS, {"host": "web1"})
    # Nothing measured straight to the server: no proxy overhead to state.
    assert "## Proxy overhead" not in benchmark.markdown([other], URLS, {"host": "web1"})


def test_rounds_of_a_run_make_one_row_of_medians_with_each_rounds_requests_per_second():
    def measured(rps, number, settings="as deployed", errors=0, rss=100.0):
        base = row("uvicorn", "json", "nginx", rps)
        figures = {**base["figures"], "errors": errors, "p99_ms": rps / 10}
        return {
            **base,
            "settings": settings,
            "own": settings == "as deployed",
            "round": number,
            "figures": figures,
            "failures": {"500": errors} if errors else {},
            "rss_mib": rss,
        }

    runs = [
        measured(900.0, 1, "2 workers"),
        measured(500.0, 1, errors=2, rss=300.0),
        measured(1000.0, 2, "2 workers"),
        measured(950.0, 2, rss=350.0),
        measured(700.0, 3, "2 workers"),
        measured(800.0, 3, errors=1),
    ]
    combined = benchmark.combine_rounds(runs)
    # One row per run, in the order first met; the round itself is gone.
    assert [(entry["settings"], entry["rounds"]) for entry in combined] == [("2 workers", 3), ("as deployed", 3)]
    mine = combined[1]
    assert "round" not in mine
    assert mine["figures"]["rps"] == 800.0
    assert mine["figures"]["p99_ms"] == 80.0
    assert mine["rps_rounds"] == [500.0, 950.0, 800.0]
    assert mine["figures"]["errors"] == 3 and mine["failures"] == {"500": 3}
    assert mine["figures"]["requests"] == sum(run["figures"]["requests"] for run in runs[1::2])
    assert mine["rss_mib"] == 350.0
    # An even number of rounds: the mean of the middle two.
    assert benchmark.combine_rounds(runs[:4])[1]["figures"]["rps"] == 725.0
    # One round: the row as it was, with its one figure.
    single = benchmark.combine_rounds([ROWS[0]])
    assert single[0]["figures"] == ROWS[0]["figures"] and single[0]["rps_rounds"] == [950.0]
    swept = benchmark.sweep(combined)["uvicorn"]["json"]
    assert swept["best"] == "2 workers" and swept["own_over_best"] == 0.89
    assert swept["own_rps_rounds"] == [500.0, 950.0, 800.0] and swept["best_rps_rounds"] == [900.0, 1000.0, 700.0]
    text = benchmark.markdown(combined, URLS, {"host": "web1"})
    assert "Each run was measured in 3 rounds" in text
    assert "| uvicorn | json | 800.0 (500.0-950.0) | 900.0 (700.0-1000.0) | 2 workers | 0.89 |" in text
    assert "| uvicorn | nginx | http/1.1 | 64 | 800.0 (500.0-950.0) |" in text
    assert "rounds" not in benchmark.markdown(ROWS, URLS, {"host": "web1"})
