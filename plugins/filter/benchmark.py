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
# The name of a kind's settings as the host has them, measured after those of benchmark_settings.
OWN_SETTINGS = "as deployed"
# What a setting of benchmark_settings may change, besides its name and the kinds it is for.
SETTING_KEYS = ("workers", "keepalive", "extra_args")


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
    if not _count(settings.get("rounds", 1), 1):
        errors.append(
            f"benchmark_rounds is '{settings.get('rounds')}': give how many times each kind goes through its "
            "settings, 1 or more."
        )
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
    errors += _settings_errors(settings.get("settings") or [], kinds)
    return errors


def _settings_errors(sweep: list, kinds: list[str]) -> list[str]:
    """What is wrong with benchmark_settings: each a name of its own, what it changes, the kinds it is for."""
    errors = []
    for setting in sweep:
        if not isinstance(setting, Mapping) or not isinstance(setting.get("name"), str) or not setting["name"]:
            errors.append(f"benchmark_settings has {json.dumps(setting)}: each setting needs a name.")
            continue
        name = setting["name"]
        unknown = sorted(set(setting) - {"name", "kinds", *SETTING_KEYS})
        if unknown or not any(key in setting for key in SETTING_KEYS):
            errors.append(
                f"benchmark_settings: {name} has {json.dumps(sorted(setting))}: give its name, one or more of "
                f"{', '.join(SETTING_KEYS)} (asgi_server_ without the prefix), and optionally kinds."
            )
        for key in ("workers", "keepalive"):
            if key in setting and not _count(setting[key], 1):
                errors.append(
                    f"benchmark_settings: {name}'s {key} is '{setting[key]}': give a whole number, 1 or more."
                )
        extra = setting.get("extra_args", [])
        if not isinstance(extra, list) or not all(isinstance(arg, str) for arg in extra):
            errors.append(
                f"benchmark_settings: {name}'s extra_args is {json.dumps(extra)}: give a list of the server's "
                "command-line arguments, as asgi_server_extra_args."
            )
        chosen = setting.get("kinds", kinds)
        if not isinstance(chosen, list) or not chosen or any(kind not in kinds for kind in chosen):
            errors.append(
                f"benchmark_settings: {name}'s kinds is {json.dumps(chosen)}: give one or more of {', '.join(kinds)} "
                "(none: every kind the setting applies to)."
            )
    names = [setting.get("name") for setting in sweep if isinstance(setting, Mapping)]
    if len(set(names)) != len(names) or OWN_SETTINGS in names:
        errors.append(
            f"benchmark_settings names {json.dumps(names)}: give each setting a name of its own, "
            f"not '{OWN_SETTINGS}' (the host's own settings, measured after them)."
        )
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


def benchmark_rows(
    results: Iterable[Mapping[str, Any]], kind: str, settings: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The report's rows of one kind from the load modules' looped results (over benchmark_runs), skipped ones out.

    ``settings`` is the setting the kind ran with (one of benchmark_kind_settings), the host's own by default.
    """
    name = (settings or {}).get("name", OWN_SETTINGS)
    return [
        {
            "kind": kind,
            "settings": name,
            "own": name == OWN_SETTINGS,
            "round": (settings or {}).get("round", 1),
            "url": result["item"]["name"],
            "path": result["item"]["path"],
            "through": result["item"]["through"],
            "protocol": result["item"]["protocol"],
            "concurrency": result["item"]["concurrency"],
            "figures": result["figures"],
            "rss_mib": result.get("rss_mib", 0.0),
            "processes": result.get("processes", 0),
            "failures": result.get("failures", {}),
        }
        for result in results
        if not result.get("skipped") and "figures" in result
    ]


def benchmark_order(kinds: Iterable[str], found: str) -> list[str]:
    """The kinds in the order run: those asked for, the one the host runs (``found``) last, so that it stays."""
    kinds = list(kinds)
    return [kind for kind in kinds if kind != found] + ([found] if found in kinds else [])


def benchmark_kind_settings(
    sweep: Iterable[Mapping[str, Any]], kind: str, kinds: Mapping[str, Mapping[str, Any]], rounds: int = 1
) -> list[dict[str, Any]]:
    """The settings one kind is measured with, in order: those of ``sweep`` that apply to it, then the host's own.

    A setting applies to the kinds it names (every kind if it names none), and one that sets workers only to
    kinds that have workers (the kinds table's ``workers``). The host's own settings come last, so that the
    host is left with them. With ``rounds``, the kind goes through them that many times, one round after the
    other (so that a machine that slows down or speeds up meanwhile weighs on each setting alike); each
    setting has its ``round``, from 1.
    """
    has_workers = kinds[kind].get("workers", True)
    chosen = [
        dict(setting)
        for setting in sweep
        if kind in setting.get("kinds", [kind]) and ("workers" not in setting or has_workers)
    ]
    return [
        {**setting, "round": number}
        for number in range(1, int(rounds) + 1)
        for setting in [*chosen, {"name": OWN_SETTINGS}]
    ]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "benchmark_input_errors": benchmark_input_errors,
            "benchmark_runs": benchmark_runs,
            "benchmark_rows": benchmark_rows,
            "benchmark_order": benchmark_order,
            "benchmark_kind_settings": benchmark_kind_settings,
        }
