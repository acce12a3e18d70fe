#!/usr/bin/python
# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: http_load
short_description: Load a URL with h2load for a while and report throughput, latency, errors and memory
version_added: 0.3.0
description:
  - Runs C(h2load) (nghttp2's load generator) on the host against one URL with a number of concurrent
    connections for a number of seconds after a warm-up, through a TCP address or straight to one or more
    unix sockets, and reports requests per second, the 50th, 90th and 99th percentile and maximum latency,
    the failed requests, and the peak resident memory of the processes of the systemd units named.
  - With several sockets (a server that runs several instances, each on a socket of its own) the
    connections are shared out among them and the figures are those of all of them together.
  - A request fails when its stream breaks or it is answered with a status of 400 or more.
  - Sends load, so never reports a change; in check mode it is skipped.
author: asgi.stack contributors (!UNKNOWN)
options:
  url:
    description:
      - The URL asked for. Its scheme, name and port make the request (and TLS's server name); the
        connection goes to O(connect_to) (h2load C(--connect-to)) or O(sockets) (h2load
        C(--base-uri unix:PATH), the URL's scheme being C(http)) when given.
    type: str
    required: true
  protocol:
    description: The protocol spoken; V(h3) needs an h2load built with HTTP/3 (ngtcp2).
    type: str
    choices: [http/1.1, h2, h3]
    default: http/1.1
  executable:
    description: The h2load to run.
    type: path
    default: h2load
extends_documentation_fragment: [asgi.stack.load]
attributes:
  platform:
    support: full
    platforms: posix
    description: Runs where h2load does (Debian and Ubuntu's nghttp2-client).
"""

EXAMPLES = r"""
- name: Load the JSON endpoint through nginx over HTTP/2 with 16 connections
  asgi.stack.http_load:
    url: https://www.example.org/whoami/
    connect_to: 127.0.0.1:443
    protocol: h2
    concurrency: 16
    duration: 10
    units: [demo-uvicorn.service]
  register: load

- name: The same straight to the server's unix socket
  asgi.stack.http_load:
    url: http://www.example.org/whoami/
    sockets: [/run/demo-uvicorn/asgi.sock]
    headers: ["X-Forwarded-Proto: https"]
    concurrency: 16
"""

RETURN = r"""
figures:
  description: Requests, failed requests, requests per second and latencies (ms) of the measured seconds.
  returned: success
  type: dict
  sample: {requests: 8510, errors: 0, rps: 851.0, p50_ms: 18.2, p90_ms: 25.1, p99_ms: 40.3, max_ms: 61.0}
rss_mib:
  description: The largest sum of resident memory (MiB) of the units' processes seen during the load.
  returned: success
  type: float
processes:
  description: The most processes the units had during the load (a check that the server ran as configured).
  returned: success
  type: int
failures:
  description: The failed requests of the measured seconds by cause, a status of 400 or more, C(broken) or C(not sent).
  returned: success
  type: dict
  sample: {"502": 1, broken: 2}
counts:
  description: h2load's own request counts, summed over its runs (total, succeeded, failed, errored, timeout).
  returned: success
  type: dict
commands:
  description: The h2load command lines run.
  returned: success
  type: list
  elements: list
"""

import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.asgi.stack.plugins.module_utils.benchmark import (
    LOAD_ARGUMENT_SPEC,
    figures,
    h2load_counts,
    h2load_log,
    shares,
    units_usage_now,
)

PROTOCOLS = ("http/1.1", "h2", "h3")


def protocol_options(protocol: str, help_text: str) -> list[str]:
    """h2load's options for ``protocol``: h2load before 1.55 (Debian 12's 1.52) names --alpn-list --npn-list."""
    if protocol == "http/1.1":
        return ["--h1"]
    option = "--alpn-list" if "--alpn-list" in help_text else "--npn-list"
    return [f"{option}={protocol}"]


def commands(params: dict, log_dir: str, help_text: str = "--alpn-list") -> list[list[str]]:
    """One h2load command line per target (the address, or each socket) with its share of the connections."""
    targets = params["sockets"] or [None]
    lines = []
    connections_per_target = shares(params["concurrency"], len(targets))
    for index, (target, connections) in enumerate(zip(targets, connections_per_target, strict=True)):
        if connections == 0:
            continue
        line = [
            params["executable"],
            *protocol_options(params["protocol"], help_text),
            f"--clients={connections}",
            f"--threads={min(connections, os.cpu_count() or 1)}",
            "--max-concurrent-streams=1",
            f"--duration={params['duration']}",
            f"--warm-up-time={params['warmup']}",
            f"--log-file={log_dir}/{index}.log",
        ]
        if target:
            line.append(f"--base-uri=unix:{target}")
        elif params.get("connect_to"):
            line.append(f"--connect-to={params['connect_to']}")
        line += [f"--header={header}" for header in params["headers"]]
        lines.append([*line, params["url"]])
    return lines


class MemorySampler(threading.Thread):
    """Samples the units' resident memory every half second until stopped; keeps the largest sum."""

    def __init__(self, module, units: list[str]) -> None:
        super().__init__(daemon=True)
        self.module = module
        self.units = units
        self.peak_kib = 0
        self.peak_processes = 0
        self.stopped = threading.Event()

    def sample(self) -> None:
        processes, kib = units_usage_now(self.module, self.units)
        self.peak_kib = max(self.peak_kib, kib)
        self.peak_processes = max(self.peak_processes, processes)

    def run(self) -> None:
        while not self.stopped.wait(0.5):
            self.sample()


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **LOAD_ARGUMENT_SPEC,
            "url": {"type": "str", "required": True},
            "protocol": {"type": "str", "choices": list(PROTOCOLS), "default": "http/1.1"},
            "executable": {"type": "path", "default": "h2load"},
        },
        mutually_exclusive=[("connect_to", "sockets")],
        # A load test has no dry run: Ansible skips it in check mode.
        supports_check_mode=False,
    )
    params = module.params
    if params["concurrency"] < 1 or params["duration"] < 1 or params["warmup"] < 0:
        module.fail_json(msg="concurrency and duration must be 1 or more, warmup 0 or more")
    with tempfile.TemporaryDirectory(prefix="asgi-stack-load-") as log_dir:
        _rc, help_text, _err = module.run_command([params["executable"], "--help"])
        lines = commands(params, log_dir, help_text)
        sampler = MemorySampler(module, params["units"])
        sampler.sample()
        sampler.start()
        started_us = int(time.time() * 1_000_000)
        # One h2load per socket, side by side; each bounded by coreutils' timeout.
        limit = str(params["duration"] + params["warmup"] + 60)
        with ThreadPoolExecutor(max_workers=len(lines)) as pool:
            outputs = list(pool.map(lambda line: module.run_command(["timeout", limit, *line]), lines))
        sampler.stopped.set()
        sampler.join()
        latencies: list[float] = []
        failures: dict[str, int] = {}
        counts: dict[str, int] = {}
        for index, (rc, stdout, stderr) in enumerate(outputs):
            if rc == 124:
                module.fail_json(msg="h2load ran past its duration", commands=lines)
            if rc != 0:
                module.fail_json(msg=f"h2load failed: {stderr.strip() or stdout.strip()}", rc=rc, commands=lines)
            for name, value in h2load_counts(stdout).items():
                counts[name] = counts.get(name, 0) + value
            try:
                with open(os.path.join(log_dir, f"{index}.log"), encoding="utf-8") as log:
                    found, failed = h2load_log(log.read(), since_us=started_us + params["warmup"] * 1_000_000)
            except OSError as error:
                module.fail_json(msg=f"h2load left no log: {error}", commands=lines)
            latencies += found
            for name, value in failed.items():
                failures[name] = failures.get(name, 0) + value
    # A request h2load counts as failed without a line in its log never got a
    # stream (its connection was refused or lost before it was sent).
    unlogged = counts.get("failed", 0) - sum(failures.values())
    if unlogged > 0:
        failures["not sent"] = unlogged
    module.exit_json(
        changed=False,
        figures=figures(latencies, sum(failures.values()), params["duration"]),
        failures=failures,
        rss_mib=round(sampler.peak_kib / 1024, 1),
        processes=sampler.peak_processes,
        counts=counts,
        commands=lines,
    )


if __name__ == "__main__":
    main()
