# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the benchmark role: its input's errors, the runs it makes, the rows of its report.

Documented in the YAML files named after each filter beside this file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

THROUGH = ("nginx", "server")
PROTOCOLS = ("http/1.1", "h2", "h3")
_NAME = re.compile(r"^[A-Za-z0-9.-]+$")


def _count(value: Any, least: int) -> bool:
    """An integer (not a boolean) of ``least`` or more."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def benchmark_input_errors(settings: Mapping[str, Any], kinds: Iterable[str]) -> list[str]:
    """What is wrong with the benchmark's variables (named without ``benchmark_``): a message per rule broken."""
    kinds = list(kinds)
    errors = []
    chosen = settings.get("kinds") or []
    unknown = [kind for kind in chosen if kind not in kinds]
    if unknown or len(set(chosen)) != len(chosen):
        errors.append(
            f"benchmark_kinds is {json.dumps(chosen)}: "
            + (f"{', '.join(map(str, unknown))} is no server kind" if unknown else "a kind is named twice")
            + f"; give each once, among {', '.join(kinds)} (empty: all of them)."
        )
    concurrency = settings.get("concurrency")
    if not concurrency or not all(_count(value, 1) for value in concurrency):
        errors.append(
            f"benchmark_concurrency is {json.dumps(concurrency)}: give a list of connection counts, each 1 or more."
        )
    if not _count(settings.get("duration"), 1):
        errors.append(f"benchmark_duration is '{settings.get('duration')}': give the seconds measured, 1 or more.")
    if not _count(settings.get("warmup"), 0):
        errors.append(f"benchmark_warmup is '{settings.get('warmup')}': give the seconds of warm-up, 0 or more.")
    if not _count(settings.get("websocket_message_size"), 8):
        errors.append(
            f"benchmark_websocket_message_size is '{settings.get('websocket_message_size')}': give 8 bytes or more."
        )
    protocols = settings.get("protocols") or []
    if not protocols or any(protocol not in PROTOCOLS for protocol in protocols):
        errors.append(f"benchmark_protocols is {json.dumps(protocols)}: give one or more of {', '.join(PROTOCOLS)}.")
    server_name = settings.get("server_name")
    if not isinstance(server_name, str) or not _NAME.match(server_name):
        errors.append(
            f"benchmark_server_name is '{server_name}': give the site's name, as in nginx_proxy_server_names."
        )
    errors += _url_errors(settings.get("urls") or [])
    return errors


def _url_errors(urls: list) -> list[str]:
    if not urls:
        return ["benchmark_urls is empty: give at least one URL to load."]
    errors = []
    names = [url.get("name") for url in urls if isinstance(url, Mapping)]
    for url in urls:
        if not isinstance(url, Mapping) or not url.get("name") or not isinstance(url.get("path"), str):
            errors.append(f"benchmark_urls has {json.dumps(url)}: each URL needs a name and a path.")
            continue
        path, name = url["path"], url["name"]
        if not path.startswith("/") or path.startswith("//") or re.search(r"\s", path):
            errors.append(
                f"benchmark_urls: {name}'s path is '{path}': give a path on this host's site, beginning with one '/' "
                "(such as '/whoami/'), with no scheme or host: the load goes to this host alone."
            )
        through = url.get("through", list(THROUGH))
        if not through or any(way not in THROUGH for way in through):
            errors.append(f"benchmark_urls: {name}'s through is {json.dumps(through)}: give nginx, server or both.")
        if url.get("versus") is not None and (url["versus"] == name or url["versus"] not in names):
            errors.append(
                f"benchmark_urls: {name}'s versus is '{url['versus']}': give the name of another of the URLs "
                f"({', '.join(str(other) for other in names if other != name)})."
            )
    if len(set(names)) != len(names):
        errors.append(f"benchmark_urls names {json.dumps(names)}: give each URL a name of its own.")
    return errors


def benchmark_runs(
    urls: Iterable[Mapping[str, Any]],
    protocols: Iterable[str],
    concurrency: Iterable[int],
    server_name: str,
    https_port: int = 443,
    http3: bool = False,
) -> list[dict[str, Any]]:
    """Every load run for one kind: each URL through each way in, with each protocol, at each concurrency.

    Through nginx: HTTPS (wss for a WebSocket) to ``server_name`` with each protocol (h3 only when ``http3``);
    straight to the server: HTTP/1.1 (ws), as nginx speaks to it.
    """
    port = "" if int(https_port) == 443 else f":{https_port}"
    runs = []
    for url in urls:
        websocket = bool(url.get("websocket", False))
        for through in url.get("through", THROUGH):
            if websocket:
                spoken = ["websocket"]
            elif through == "nginx":
                spoken = [protocol for protocol in protocols if protocol != "h3" or http3]
            else:
                spoken = ["http/1.1"]
            scheme = ("wss" if websocket else "https") if through == "nginx" else ("ws" if websocket else "http")
            address = f"{scheme}://{server_name}{port if through == 'nginx' else ''}{url['path']}"
            runs += [
                {
                    "name": url["name"],
                    "path": url["path"],
                    "websocket": websocket,
                    "through": through,
                    "protocol": protocol,
                    "concurrency": count,
                    "url": address,
                }
                for protocol in spoken
                for count in concurrency
            ]
    return runs


def benchmark_rows(results: Iterable[Mapping[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The report's rows of one kind from the load modules' looped results (over benchmark_runs), skipped ones out."""
    return [
        {
            "kind": kind,
            "url": result["item"]["name"],
            "path": result["item"]["path"],
            "through": result["item"]["through"],
            "protocol": result["item"]["protocol"],
            "concurrency": result["item"]["concurrency"],
            "figures": result["figures"],
            "rss_mib": result.get("rss_mib", 0.0),
            "failures": result.get("failures", {}),
        }
        for result in results
        if not result.get("skipped") and "figures" in result
    ]


def benchmark_order(kinds: Iterable[str], found: str) -> list[str]:
    """The kinds in the order run: those asked for, the one the host runs (``found``) last, so that it stays."""
    kinds = list(kinds)
    return [kind for kind in kinds if kind != found] + ([found] if found in kinds else [])


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "benchmark_input_errors": benchmark_input_errors,
            "benchmark_runs": benchmark_runs,
            "benchmark_rows": benchmark_rows,
            "benchmark_order": benchmark_order,
        }
