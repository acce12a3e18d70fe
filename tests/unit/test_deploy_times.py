"""tests/benchmark/deploy_times.py: the totals of a suite run's steps under load (scripts/benchmark-deploys)."""

import importlib.util
from pathlib import Path

FILE = Path(__file__).resolve().parents[1] / "benchmark" / "deploy_times.py"
_spec = importlib.util.spec_from_file_location("deploy_times", FILE)
deploy_times = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(deploy_times)


def step(profile: str, requests: int, failures: int = 0, worst: float = 0.0, over: int = 0, recycled=None) -> dict:
    """A step's row; ``recycled``: (reconnections, worst, over 2 s) after a recycled worker's close, or None for a
    row written before those were counted apart."""
    row = {"profile": profile, "requests": requests, "failures": failures, "latency_p99_s": 0.5, "latency_max_s": 4.0}
    if profile == "busy":
        sockets = {"resets": failures, "worst_reconnect_s": worst, "reconnects_over_2_s": over}
        if recycled is not None:
            count, worst_recycled, over_recycled = recycled
            sockets["after_recycling"] = {
                "reconnects": count,
                "worst_reconnect_s": worst_recycled,
                "reconnects_over_2_s": over_recycled,
            }
        row.update(uploads=10, streams_failed=0, websockets=sockets)
    return row


def test_each_profile_is_totalled_apart_with_the_busy_loads_reconnections():
    rows = {
        ("debian13", "uvicorn", "restart"): step("busy", 100, worst=1.5, recycled=(3, 4.3, 2)),
        ("debian13", "uvicorn", "rollback"): step("busy", 200, failures=1, worst=3.8, over=8, recycled=(1, 0.4, 0)),
        ("debian13", "daphne", "restart"): step("busy", 50, worst=2.1, over=1),
        ("debian12", "uvicorn", "restart"): step("light", 30),
    }
    totals = deploy_times.load_totals(rows)
    assert totals["light"] == {"steps": 1, "requests": 30, "failed": 0}
    assert totals["busy"] == {
        "steps": 3,
        "requests": 350,
        "failed": 1,
        "uploads": 30,
        "streams cut short": 0,
        "WebSockets reset": 1,
        "reconnections over 2 s": 9,
        "steps with one": 2,
        "after a recycled worker's close, reconnections": 4,
        "of those over 2 s": 2,
        "worst reconnection (s)": 3.8,
        "worst after recycling (s)": 4.3,
    }


def test_a_step_shows_its_worst_reconnection_beside_the_run_before(capsys):
    key = ("debian13", "uvicorn", "rollback")
    deploy_times.print_load({key: step("busy", 200, worst=0.8)}, {key: step("busy", 190, worst=3.8, over=8)})
    line = next(line for line in capsys.readouterr().out.splitlines() if "rollback" in line)
    assert "reconnect 0.8 (0 over 2 s)" in line and "[190 req" in line and "reconnect 3.8 (8 over 2 s)]" in line


def test_a_step_shows_its_reconnections_after_recycling_apart_when_it_had_some(capsys):
    some, none = ("debian13", "uvicorn", "restart"), ("debian13", "uvicorn", "rollback")
    deploy_times.print_load(
        {some: step("busy", 200, worst=0.8, recycled=(2, 4.3, 1)), none: step("busy", 200, recycled=(0, 0.0, 0))}, {}
    )
    lines = capsys.readouterr().out.splitlines()
    assert "reconnect 0.8 (0 over 2 s), after recycling 4.3 (1 over 2 s)" in next(x for x in lines if "restart" in x)
    assert "after recycling" not in next(x for x in lines if "rollback" in x)
