# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the benchmark's modules share: figures from latencies, h2load's log and summary, memory of units.

The load modules (http_load, websocket_load) run on the target, the report module on the controller;
each reduces raw measurements to the same figures, so that a row of the report reads alike for HTTP
and WebSocket runs.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter

# h2load's summary line of request counts (h2load --help, "requests:").
_COUNTS = re.compile(
    r"requests: (?P<total>\d+) total, (?P<started>\d+) started, (?P<done>\d+) done, (?P<succeeded>\d+) succeeded, "
    r"(?P<failed>\d+) failed, (?P<errored>\d+) errored, (?P<timeout>\d+) timeout"
)


def shares(concurrency: int, targets: int) -> list[int]:
    """``concurrency`` connections shared out among ``targets`` (a server's instances) as evenly as possible."""
    return [concurrency // targets + (1 if index < concurrency % targets else 0) for index in range(targets)]


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (0 < fraction <= 1); 0.0 when there are none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def figures(latencies_ms: list[float], errors: int, seconds: float) -> dict:
    """Requests, errors, throughput and latency percentiles of one run that lasted ``seconds``.

    ``latencies_ms`` holds one entry per answered request (or WebSocket round trip); ``errors``
    counts those that failed. Throughput counts answered requests only.
    """
    answered = len(latencies_ms)
    return {
        "requests": answered + errors,
        "errors": errors,
        "rps": round(answered / seconds, 1) if seconds > 0 else 0.0,
        "p50_ms": round(percentile(latencies_ms, 0.50), 2),
        "p90_ms": round(percentile(latencies_ms, 0.90), 2),
        "p99_ms": round(percentile(latencies_ms, 0.99), 2),
        "max_ms": round(max(latencies_ms, default=0.0), 2),
    }


def h2load_log(text: str, since_us: int = 0) -> tuple[list[float], dict[str, int]]:
    """From h2load's --log-file: latencies (ms) of the answered requests, and how many of each failure.

    Each line: start time (microseconds since the epoch), status (-1 for a failed stream), duration
    (microseconds). A failure is a broken stream (counted as "broken") or an answer of 400 or more
    (counted by its status). Requests that ended before ``since_us`` (in the warm-up) are left out, as
    h2load leaves them out of its own counts.
    """
    latencies: list[float] = []
    failures: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) < 3:
            continue
        start, status, duration = int(fields[0]), int(fields[1]), int(fields[2])
        if start + duration < since_us:
            continue
        if 0 < status < 400:
            latencies.append(duration / 1000)
        else:
            name = "broken" if status < 0 else str(status)
            failures[name] = failures.get(name, 0) + 1
    return latencies, failures


def h2load_counts(stdout: str) -> dict[str, int]:
    """h2load's request counts from its summary (total, succeeded, failed, errored, timeout, ...)."""
    found = _COUNTS.search(stdout)
    if not found:
        return {}
    return {name: int(value) for name, value in found.groupdict().items()}


# The options the load modules share (documented by the doc fragment asgi.stack.load).
LOAD_ARGUMENT_SPEC = {
    "connect_to": {"type": "str"},
    "sockets": {"type": "list", "elements": "path", "default": []},
    "headers": {"type": "list", "elements": "str", "default": []},
    "concurrency": {"type": "int", "required": True},
    "duration": {"type": "int", "default": 10},
    "warmup": {"type": "int", "default": 2},
    "units": {"type": "list", "elements": "str", "default": []},
}


def units_usage_now(module, units: list[str]) -> tuple[int, int]:
    """How many processes ``units`` have now, and their resident memory (KiB), as ``ps`` (run by ``module``) says."""
    _rc, out, _err = module.run_command(["ps", "-e", "-o", "rss=,unit="])
    return units_processes(out, units), units_rss_kib(out, units)


def _units_rss(ps_output: str, units: list[str]) -> list[int]:
    """The resident memory (KiB) of each process of ``units``, from ``ps -e -o rss=,unit=``."""
    wanted = set(units)
    fields = (line.split() for line in ps_output.splitlines())
    return [int(rss) for rss, *unit in fields if unit and unit[0] in wanted and rss.isdigit()]


def units_processes(ps_output: str, units: list[str]) -> int:
    """How many processes ``units`` have, from ``ps -e -o rss=,unit=``."""
    return len(_units_rss(ps_output, units))


def units_rss_kib(ps_output: str, units: list[str]) -> int:
    """The resident memory (KiB) of every process of ``units``, from ``ps -e -o rss=,unit=``."""
    return sum(_units_rss(ps_output, units))


# The report: rows are the benchmark's measurements, one per kind, settings,
# URL, way in (through nginx, or straight to the server), protocol and
# concurrency. Each row: kind, settings (their name), own (whether those are
# the host's own settings; a row without it is), url (its name), through
# ("nginx" or "server"), protocol, concurrency, figures (as figures() makes
# them), rss_mib and processes (the most the server's units had). The ratios
# and the chart are of the host's own settings; the sweep compares those with
# the other settings measured.

THROUGH_LABELS = {"nginx": "through nginx (HTTPS)", "server": "straight to the server's socket"}


# What identifies a row's run across rounds: the kind, its settings, and what was loaded how.
RUN_KEYS = ("kind", "settings", "url", "path", "through", "protocol", "concurrency")
# The figures of a run whose median over the rounds a combined row gives; requests and errors are added up.
MEDIAN_FIGURES = ("rps", "p50_ms", "p90_ms", "p99_ms", "max_ms")


def combine_rounds(rows: list[dict]) -> list[dict]:
    """One row per run measured in one or more rounds (the rows of each round, ``round`` 1, 2, ...), in the order met.

    A combined row has the median of each of MEDIAN_FIGURES over its rounds, the requests and errors of all
    of them, the failures added up by cause, the most memory and processes seen, ``rounds`` (how many) and
    ``rps_rounds`` (the requests per second of each round, in order): the spread that tells whether two
    settings differ by more than the machine varies.
    """
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(key) for key in RUN_KEYS), []).append(row)
    combined = []
    for measured in groups.values():
        measured = sorted(measured, key=lambda row: row.get("round", 1))
        first = {key: value for key, value in measured[0].items() if key != "round"}
        failures = sum((Counter(row.get("failures", {})) for row in measured), Counter())
        figures = {
            **first["figures"],
            **{
                name: round(statistics.median([row["figures"][name] for row in measured]), 2) for name in MEDIAN_FIGURES
            },
            "requests": sum(row["figures"]["requests"] for row in measured),
            "errors": sum(row["figures"]["errors"] for row in measured),
        }
        combined.append(
            {
                **first,
                "figures": figures,
                "failures": dict(failures),
                "rss_mib": max(row.get("rss_mib", 0.0) for row in measured),
                "processes": max(row.get("processes", 0) for row in measured),
                "rounds": len(measured),
                "rps_rounds": [row["figures"]["rps"] for row in measured],
            }
        )
    return combined


def own(rows: list[dict]) -> list[dict]:
    """The rows measured with the host's own settings."""
    return [row for row in rows if row.get("own", True)]


def top_concurrency(rows: list[dict]) -> int:
    return max((row["concurrency"] for row in rows), default=0)


def find_row(rows: list[dict], **wanted) -> dict | None:
    return next((row for row in rows if all(row.get(key) == value for key, value in wanted.items())), None)


def ratio(numerator: dict | None, denominator: dict | None) -> float | None:
    """Requests per second of one row over another's, to two places; None when either is missing or 0."""
    if not numerator or not denominator or not denominator["figures"]["rps"]:
        return None
    return round(numerator["figures"]["rps"] / denominator["figures"]["rps"], 2)


def proxy_overhead(rows: list[dict]) -> dict[str, dict[str, float | None]]:
    """Per kind and URL, at the highest concurrency: requests per second through nginx over straight to the server.

    Through nginx means HTTP/1.1 for requests (as nginx speaks to the server) and the WebSocket itself;
    1.0 means nginx costs nothing, the goal is 0.95 or more.
    """
    top = top_concurrency(rows)
    result: dict[str, dict[str, float | None]] = {}
    for row in rows:
        if row["through"] != "server" or row["concurrency"] != top:
            continue
        proxied = find_row(
            rows, kind=row["kind"], url=row["url"], through="nginx", protocol=row["protocol"], concurrency=top
        )
        result.setdefault(row["kind"], {})[row["url"]] = ratio(proxied, row)
    return result


def versus(rows: list[dict], urls: list[dict]) -> dict[str, dict[str, float | None]]:
    """Per URL that names another (its ``versus``) and per kind: requests per second of the one over the other.

    Both through nginx over HTTP/1.1 at the highest concurrency: a static file that nginx serves against
    the same file served by Django, for example.
    """
    top = top_concurrency(rows)
    result: dict[str, dict[str, float | None]] = {}
    for url in urls:
        if not url.get("versus"):
            continue
        label = f"{url['name']} / {url['versus']}"
        for kind in dict.fromkeys(row["kind"] for row in rows):
            mine, theirs = (
                find_row(rows, kind=kind, url=name, through="nginx", protocol="http/1.1", concurrency=top)
                for name in (url["name"], url["versus"])
            )
            result.setdefault(label, {})[kind] = ratio(mine, theirs)
    return result


def fastest(rows: list[dict]) -> dict[str, str]:
    """Per URL, the kind with the most requests per second through nginx over HTTP/1.1 at the highest concurrency."""
    top = top_concurrency(rows)
    best: dict[str, dict] = {}
    for row in rows:
        if row["through"] == "nginx" and row["protocol"] in ("http/1.1", "websocket") and row["concurrency"] == top:
            if row["url"] not in best or row["figures"]["rps"] > best[row["url"]]["figures"]["rps"]:
                best[row["url"]] = row
    return {url: row["kind"] for url, row in best.items()}


def sweep(rows: list[dict]) -> dict[str, dict[str, dict]]:
    """Per kind measured with other settings too, and per URL: the host's own settings against the best measured.

    Through nginx over HTTP/1.1 (a WebSocket URL: the WebSocket) at the highest concurrency. Each entry:
    ``own_rps``, ``best`` (the name of the settings with the most requests per second, the host's own
    included), ``best_rps`` and ``own_over_best`` (1.0 when the host's own are the best).
    """
    top = top_concurrency(rows)
    swept = {row["kind"] for row in rows if not row.get("own", True)}
    cells: dict[str, dict[str, list[dict]]] = {}
    for row in rows:
        if (
            row["kind"] in swept
            and row["through"] == "nginx"
            and row["protocol"] in ("http/1.1", "websocket")
            and row["concurrency"] == top
        ):
            cells.setdefault(row["kind"], {}).setdefault(row["url"], []).append(row)
    result: dict[str, dict[str, dict]] = {}
    for kind, per_url in cells.items():
        for url, measured in per_url.items():
            mine = next((row for row in measured if row.get("own", True)), None)
            best = max(measured, key=lambda row: row["figures"]["rps"])
            result.setdefault(kind, {})[url] = {
                "own_rps": mine["figures"]["rps"] if mine else None,
                "best": best.get("settings", ""),
                "best_rps": best["figures"]["rps"],
                "own_over_best": ratio(mine, best),
                "own_rps_rounds": _rps_rounds(mine) if mine else [],
                "best_rps_rounds": _rps_rounds(best),
            }
    return result


def _rps_rounds(row: dict) -> list[float]:
    """The requests per second of each round of a row (combine_rounds), or its only figure."""
    return row.get("rps_rounds", [row["figures"]["rps"]])


def _rps(value: float | None, rounds: list[float]) -> str:
    """Requests per second, with the lowest and highest of its rounds when there were several."""
    if value is None:
        return "n/a"
    return f"{value:.1f}" + (f" ({min(rounds):.1f}-{max(rounds):.1f})" if len(rounds) > 1 else "")


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _errors(row: dict) -> str:
    """The failed requests, with their causes when known: ``3 (500: 2, broken: 1)``."""
    causes = ", ".join(f"{cause}: {count}" for cause, count in sorted(row.get("failures", {}).items()))
    return f"{row['figures']['errors']} ({causes})" if causes else str(row["figures"]["errors"])


def _kind_label(row: dict) -> str:
    """The kind, with the name of its settings when they are not the host's own."""
    return row["kind"] if row.get("own", True) else f"{row['kind']} ({row['settings']})"


def markdown(rows: list[dict], urls: list[dict], about: dict) -> str:
    """The report as Markdown: what ran where, the ratios, the sweep, then a table per URL."""
    every = rows
    rows = own(every)
    rounds = max((row.get("rounds", 1) for row in every), default=1)
    kinds = list(dict.fromkeys(row["kind"] for row in rows))
    lines = [
        f"# ASGI server benchmark: {about.get('host', '')}",
        "",
        *(f"- {key}: {value}" for key, value in about.items() if key != "host"),
        f"- kinds, in the order run: {', '.join(kinds)}",
        "",
        *(
            [
                f"Each run was measured in {rounds} rounds, the kind going through its settings once per round:",
                "each figure is the median of the rounds, requests per second with the lowest and highest round",
                "in brackets, errors and requests those of every round.",
                "",
            ]
            if rounds > 1
            else []
        ),
        "Requests per second count answered requests (status below 400) in the measured seconds;",
        "errors are broken streams and answers of 400 or more; latencies are per request (per round",
        "trip for WebSockets); RSS is the peak resident memory of the server's processes, and",
        "processes the most of them seen during the run.",
        "",
    ]
    overhead = proxy_overhead(rows)
    proxied_urls = list(dict.fromkeys(url for per_kind in overhead.values() for url in per_kind))
    if proxied_urls:
        lines += [
            f"## Proxy overhead: through nginx / straight to the server, at {top_concurrency(rows)} connections",
            "",
        ]
        lines += ["| kind | " + " | ".join(proxied_urls) + " |", "|---" * (len(proxied_urls) + 1) + "|"]
        lines += [
            f"| {kind} | " + " | ".join(_cell(overhead[kind].get(url)) for url in proxied_urls) + " |"
            for kind in kinds
            if kind in overhead
        ]
        lines.append("")
    for label, per_kind in versus(rows, urls).items():
        lines += [f"## {label} (requests per second, through nginx)", "", "| kind | ratio |", "|---|---|"]
        lines += [f"| {kind} | {_cell(value)} |" for kind, value in per_kind.items()]
        lines.append("")
    best = fastest(rows)
    if best:
        lines += ["## Most requests per second through nginx, at the highest concurrency", ""]
        lines += [f"- {url}: {kind}" for url, kind in best.items()]
        lines.append("")
    swept = sweep(every)
    if swept:
        lines += [
            f"## The host's own settings against the others measured, through nginx at {top_concurrency(rows)} "
            "connections",
            "",
            "| kind | URL | own req/s | best req/s | best settings | own / best |",
            "|---|---|---:|---:|---|---:|",
        ]
        lines += [
            f"| {kind} | {url} | {_rps(entry['own_rps'], entry['own_rps_rounds'])} | "
            f"{_rps(entry['best_rps'], entry['best_rps_rounds'])} | {entry['best']} | "
            f"{_cell(entry['own_over_best'])} |"
            for kind, per_url in swept.items()
            for url, entry in per_url.items()
        ]
        lines.append("")
    for url in urls:
        mine = [row for row in every if row["url"] == url["name"]]
        if not mine:
            continue
        lines += [
            f"## {url['name']}: `{url['path']}`",
            "",
            "| kind | way in | protocol | connections | req/s | p50 ms | p90 ms | p99 ms | max ms | errors "
            "| requests | RSS MiB | processes |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in mine:
            f = row["figures"]
            lines.append(
                f"| {_kind_label(row)} | {row['through']} | {row['protocol']} | {row['concurrency']} | "
                f"{_rps(f['rps'], _rps_rounds(row))} | {f['p50_ms']:.1f} | {f['p90_ms']:.1f} | {f['p99_ms']:.1f} | "
                f"{f['max_ms']:.1f} | "
                f"{_errors(row)} | {f['requests']} | {row.get('rss_mib', 0):.1f} | "
                f"{row.get('processes', 0)} |"
            )
        lines.append("")
    return "\n".join(lines)
