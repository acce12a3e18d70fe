"""Unit tests for the benchmark role's filters: its input's errors, its runs, its rows, its order."""

import importlib.util
from pathlib import Path

import yaml

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "filter" / "benchmark.py"
spec = importlib.util.spec_from_file_location("benchmark_filter", PLUGIN)
benchmark = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark)

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = yaml.safe_load((ROOT / "roles" / "benchmark" / "defaults" / "main.yml").read_text())
KINDS = list(yaml.safe_load((ROOT / "roles" / "asgi_server" / "vars" / "main.yml").read_text())["asgi_server_kinds"])
GOOD = {
    "kinds": [],
    "concurrency": DEFAULTS["benchmark_concurrency"],
    "duration": DEFAULTS["benchmark_duration"],
    "warmup": DEFAULTS["benchmark_warmup"],
    "rounds": DEFAULTS["benchmark_rounds"],
    "urls": DEFAULTS["benchmark_urls"],
    "protocols": DEFAULTS["benchmark_protocols"],
    "server_name": "www.example.org",
    "websocket_message_size": DEFAULTS["benchmark_websocket_message_size"],
    "settings": DEFAULTS["benchmark_settings"],
}
TABLE = yaml.safe_load((ROOT / "roles" / "asgi_server" / "vars" / "main.yml").read_text())["asgi_server_kinds"]


def errors(**changed):
    return benchmark.benchmark_input_errors({**GOOD, **changed}, KINDS)


def test_the_defaults_are_good_input():
    assert errors() == []
    assert errors(kinds=["uvicorn", "granian"]) == []


def test_each_bad_value_is_named_with_what_is_accepted():
    assert errors(kinds=["uvicorn", "waitress"]) == [
        f'benchmark_kinds is ["uvicorn", "waitress"]: waitress is no server kind; give each once, among '
        f"{', '.join(KINDS)} (empty: all of them)."
    ]
    assert "a kind is named twice" in errors(kinds=["uvicorn", "uvicorn"])[0]
    assert errors(concurrency=[0, 16]) == [
        "benchmark_concurrency is [0, 16]: give a list of connection counts, each 1 or more."
    ]
    assert "benchmark_concurrency" in errors(concurrency=[])[0]
    assert "benchmark_concurrency" in errors(concurrency=[True])[0]
    assert errors(duration=0) == ["benchmark_duration is '0': give the seconds measured, 1 or more."]
    assert errors(warmup=0) == []
    assert "benchmark_warmup is '-1'" in errors(warmup=-1)[0]
    assert errors(rounds=0) == [
        "benchmark_rounds is '0': give how many times each kind goes through its settings, 1 or more."
    ]
    assert "benchmark_rounds is 'True'" in errors(rounds=True)[0]
    assert "benchmark_websocket_message_size is '4'" in errors(websocket_message_size=4)[0]
    assert 'benchmark_protocols is ["h4"]' in errors(protocols=["h4"])[0]
    assert "benchmark_server_name is 'a/b'" in errors(server_name="a/b")[0]


def test_a_url_must_be_a_path_on_this_host():
    for path in ("https://www.example.org/", "//www.example.org/", "whoami/", "/a b/"):
        found = errors(urls=[{"name": "x", "path": path}])
        assert len(found) == 1 and f"x's path is '{path}'" in found[0] and "no scheme or host" in found[0], found
    assert "each URL needs a name and a path" in errors(urls=[{"path": "/"}])[0]
    assert "benchmark_urls is empty" in errors(urls=[])[0]


def test_ways_in_versus_and_names():
    assert 'x\'s through is ["balancer"]' in errors(urls=[{"name": "x", "path": "/", "through": ["balancer"]}])[0]
    found = errors(urls=[{"name": "x", "path": "/", "versus": "y"}, {"name": "z", "path": "/z"}])
    assert found == ["benchmark_urls: x's versus is 'y': give the name of another of the URLs (z)."]
    assert "versus is 'x'" in errors(urls=[{"name": "x", "path": "/", "versus": "x"}])[0]
    assert "a name of its own" in errors(urls=[{"name": "x", "path": "/"}, {"name": "x", "path": "/y"}])[0]


def test_the_runs_of_a_kind_cover_each_url_way_in_protocol_and_concurrency():
    runs = benchmark.benchmark_runs(DEFAULTS["benchmark_urls"], ["http/1.1", "h2", "h3"], [1, 16], "localhost")
    described = {(run["name"], run["through"], run["protocol"], run["concurrency"], run["url"]) for run in runs}
    assert ("page", "nginx", "http/1.1", 1, "https://localhost/") in described
    assert ("page", "nginx", "h2", 16, "https://localhost/") in described
    assert ("page", "server", "http/1.1", 16, "http://localhost/") in described
    assert ("websocket echo", "nginx", "websocket", 1, "wss://localhost/ws/echo/") in described
    assert ("websocket echo", "server", "websocket", 1, "ws://localhost/ws/echo/") in described
    # h3 only where it can be measured; static files only through nginx.
    assert not any(run["protocol"] == "h3" for run in runs)
    assert not any(run["through"] == "server" and run["name"].startswith("static") for run in runs)
    # page, json: 2 nginx protocols + server; websocket: 2; two static URLs: 2 each; at two concurrencies.
    assert len(runs) == (3 + 3 + 2 + 2 + 2) * 2
    with_h3 = benchmark.benchmark_runs([{"name": "p", "path": "/"}], ["h3"], [8], "www.example.org", 8443, True)
    assert with_h3 == [
        {
            "name": "p",
            "path": "/",
            "websocket": False,
            "through": "nginx",
            "protocol": "h3",
            "concurrency": 8,
            "url": "https://www.example.org:8443/",
        },
        {
            "name": "p",
            "path": "/",
            "websocket": False,
            "through": "server",
            "protocol": "http/1.1",
            "concurrency": 8,
            "url": "http://www.example.org/",
        },
    ]


def test_rows_come_from_the_results_that_ran():
    item = {"name": "json", "path": "/whoami/", "through": "nginx", "protocol": "h2", "concurrency": 4}
    figures = {"requests": 10, "errors": 0, "rps": 10.0, "p50_ms": 1.0, "p90_ms": 1.0, "p99_ms": 1.0, "max_ms": 1.0}
    results = [
        {"item": item, "figures": figures, "rss_mib": 90.5, "processes": 6, "failures": {"500": 1}},
        {"item": item, "skipped": True},
    ]
    assert benchmark.benchmark_rows(results, "uvicorn") == [
        {
            "kind": "uvicorn",
            "settings": "as deployed",
            "own": True,
            "round": 1,
            "url": "json",
            "path": "/whoami/",
            "through": "nginx",
            "protocol": "h2",
            "concurrency": 4,
            "figures": figures,
            "rss_mib": 90.5,
            "processes": 6,
            "failures": {"500": 1},
        }
    ]
    assert [row["settings"] for row in benchmark.benchmark_rows(results, "uvicorn", {"name": "2 workers"})] == [
        "2 workers"
    ]
    assert not benchmark.benchmark_rows(results, "uvicorn", {"name": "2 workers", "workers": 2})[0]["own"]
    assert benchmark.benchmark_rows(results, "uvicorn", {"name": "2 workers", "round": 3})[0]["round"] == 3


def test_the_kind_the_host_runs_goes_last():
    assert benchmark.benchmark_order(["uvicorn", "daphne", "granian"], "daphne") == ["uvicorn", "granian", "daphne"]
    assert benchmark.benchmark_order(["uvicorn", "granian"], "daphne") == ["uvicorn", "granian"]


def test_settings_to_sweep_are_checked_each_rule_with_its_message():
    good = [{"name": "2 workers", "workers": 2}, {"name": "h11", "extra_args": ["--http", "h11"], "kinds": ["uvicorn"]}]
    assert errors(settings=good) == []
    assert errors(settings=[{"workers": 2}]) == ['benchmark_settings has {"workers": 2}: each setting needs a name.']
    assert errors(settings=[{"name": "x"}]) == [
        'benchmark_settings: x has ["name"]: give its name, one or more of workers, keepalive, extra_args '
        "(asgi_server_ without the prefix), and optionally kinds."
    ]
    assert "x has" in errors(settings=[{"name": "x", "workers": 2, "loop": "asyncio"}])[0]
    assert errors(settings=[{"name": "x", "workers": 0}]) == [
        "benchmark_settings: x's workers is '0': give a whole number, 1 or more."
    ]
    assert "x's keepalive is 'True'" in errors(settings=[{"name": "x", "keepalive": True}])[0]
    assert 'x\'s extra_args is "--http h11"' in errors(settings=[{"name": "x", "extra_args": "--http h11"}])[0]
    assert errors(settings=[{"name": "x", "workers": 2, "kinds": ["waitress"]}]) == [
        f'benchmark_settings: x\'s kinds is ["waitress"]: give one or more of {", ".join(KINDS)} '
        "(none: every kind the setting applies to)."
    ]
    assert "x's kinds is []" in errors(settings=[{"name": "x", "workers": 2, "kinds": []}])[0]
    twice = errors(settings=[{"name": "x", "workers": 2}, {"name": "x", "workers": 3}])
    assert twice == [
        'benchmark_settings names ["x", "x"]: give each setting a name of its own, not \'as deployed\' '
        "(the host's own settings, measured after them)."
    ]
    assert "benchmark_settings names" in errors(settings=[{"name": "as deployed", "workers": 2}])[0]


def test_a_kind_runs_the_settings_for_it_then_the_hosts_own():
    sweep = [
        {"name": "2 workers", "workers": 2},
        {"name": "h11", "extra_args": ["--http", "h11"], "kinds": ["uvicorn"]},
        {"name": "ping", "extra_args": ["--ping-interval", "10"], "kinds": ["daphne"]},
    ]
    own = {"name": "as deployed"}

    def in_round(settings, number):
        return [{**setting, "round": number} for setting in settings]

    assert benchmark.benchmark_kind_settings(sweep, "uvicorn", TABLE) == in_round([*sweep[:2], own], 1)
    # daphne has no workers: a setting of workers is not for it.
    assert not TABLE["daphne"]["workers"]
    assert benchmark.benchmark_kind_settings(sweep, "daphne", TABLE) == in_round([sweep[2], own], 1)
    assert benchmark.benchmark_kind_settings([], "granian", TABLE) == in_round([own], 1)
    # Rounds go through every setting in turn, each round ending with the host's own.
    assert benchmark.benchmark_kind_settings(sweep, "daphne", TABLE, rounds=3) == [
        *in_round([sweep[2], own], 1),
        *in_round([sweep[2], own], 2),
        *in_round([sweep[2], own], 3),
    ]
