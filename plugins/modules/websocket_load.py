#!/usr/bin/python
# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: websocket_load
short_description: Hold WebSocket connections that echo messages for a while and report round trips, latency and memory
version_added: 0.3.0
description:
  - Opens a number of WebSocket connections to an echo endpoint, through a TCP address or straight to unix
    sockets, and on each sends a message and waits for its echo, again and again, for a number of seconds
    after a warm-up. Reports round trips per second, the 50th, 90th and 99th percentile and maximum round
    trip time, the failures (a connection refused or lost, a wrong echo; the connection is opened again),
    and the peak resident memory of the processes of the systemd units named.
  - Needs the C(websockets) library (14 or newer) in the Python that runs it; the benchmark role runs it
    with the interpreter of a virtualenv of its own.
  - Sends load, so never reports a change; in check mode it is skipped.
author: asgi.stack contributors (!UNKNOWN)
requirements: [websockets>=14]
options:
  url:
    description: The WebSocket URL (C(ws://) or C(wss://)); its name makes the Host header and TLS's server name.
    type: str
    required: true
  origin:
    description: The Origin header, which Channels' origin check reads.
    type: str
  message_size:
    description: Bytes of each text message.
    type: int
    default: 64
extends_documentation_fragment: [asgi.stack.load]
attributes:
  platform:
    support: full
    platforms: posix
    description: Runs where the C(websockets) library does.
notes:
  - TLS is not verified; the load comes from the host itself, and the point is the speed of the server.
"""

EXAMPLES = r"""
- name: Echo round trips through nginx with 16 connections
  asgi.stack.websocket_load:
    url: wss://www.example.org/ws/echo/
    connect_to: 127.0.0.1:443
    origin: https://www.example.org
    concurrency: 16
  vars:
    ansible_python_interpreter: /opt/asgi-stack-benchmark/bin/python
"""

RETURN = r"""
figures:
  description: Round trips, failures, round trips per second and round-trip times (ms) of the measured seconds.
  returned: success
  type: dict
  sample: {requests: 52010, errors: 0, rps: 5201.0, p50_ms: 2.9, p90_ms: 4.1, p99_ms: 7.7, max_ms: 21.0}
rss_mib:
  description: The largest sum of resident memory (MiB) of the units' processes seen during the load.
  returned: success
  type: float
processes:
  description: The most processes the units had during the load (a check that the server ran as configured).
  returned: success
  type: int
"""

import asyncio
import ssl
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.asgi.stack.plugins.module_utils.benchmark import (
    LOAD_ARGUMENT_SPEC,
    figures,
    shares,
    units_usage_now,
)

try:
    from websockets.asyncio.client import connect, unix_connect
except ImportError:
    WEBSOCKETS_ERROR = traceback.format_exc()
else:
    WEBSOCKETS_ERROR = None


class Run:
    """The state the connections share: when measuring starts and stops, and what they measured."""

    def __init__(self, module) -> None:
        self.module = module
        self.params = module.params
        self.measure_from = time.monotonic() + self.params["warmup"]
        self.until = self.measure_from + self.params["duration"]
        self.latencies: list[float] = []
        self.errors = 0
        self.peak_kib = 0
        self.peak_processes = 0
        self.last_error = ""

    def opener(self, socket: str | None):
        params = self.params
        headers = [tuple(part.strip() for part in header.split(":", 1)) for header in params["headers"]]
        options = {"origin": params["origin"], "additional_headers": headers, "open_timeout": 10}
        if params["url"].startswith("wss:"):
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            options["ssl"] = context
        if socket:
            return lambda: unix_connect(socket, params["url"], **options)
        if params.get("connect_to"):
            host, _colon, port = params["connect_to"].rpartition(":")
            options.update(host=host.strip("[]"), port=int(port))
        return lambda: connect(params["url"], **options)

    async def connection(self, open_connection, number: int) -> None:
        message = (f"{number}:" + "x" * self.params["message_size"])[: self.params["message_size"]]
        while time.monotonic() < self.until:
            try:
                async with open_connection() as websocket:
                    while (now := time.monotonic()) < self.until:
                        await websocket.send(message)
                        echo = await asyncio.wait_for(websocket.recv(), timeout=10)
                        if message not in echo:
                            raise ValueError(f"the echo was {echo[:80]!r}")
                        if now >= self.measure_from:
                            self.latencies.append((time.monotonic() - now) * 1000)
            except Exception as error:
                if time.monotonic() >= self.measure_from:
                    self.errors += 1
                self.last_error = f"{type(error).__name__}: {error}"
                await asyncio.sleep(0.05)

    async def memory(self) -> None:
        while time.monotonic() < self.until:
            processes, kib = units_usage_now(self.module, self.params["units"])
            self.peak_kib = max(self.peak_kib, kib)
            self.peak_processes = max(self.peak_processes, processes)
            await asyncio.sleep(0.5)

    async def main(self) -> None:
        targets = self.params["sockets"] or [None]
        tasks = [asyncio.create_task(self.memory())]
        number = 0
        for target, count in zip(targets, shares(self.params["concurrency"], len(targets)), strict=True):
            opener = self.opener(target)
            for _dummy in range(count):
                tasks.append(asyncio.create_task(self.connection(opener, number)))
                number += 1
        await asyncio.gather(*tasks)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **LOAD_ARGUMENT_SPEC,
            "url": {"type": "str", "required": True},
            "origin": {"type": "str"},
            "message_size": {"type": "int", "default": 64},
        },
        mutually_exclusive=[("connect_to", "sockets")],
        # A load test has no dry run: Ansible skips it in check mode.
        supports_check_mode=False,
    )
    params = module.params
    if WEBSOCKETS_ERROR:
        module.fail_json(msg=missing_required_lib("websockets"), exception=WEBSOCKETS_ERROR)
    if params["concurrency"] < 1 or params["duration"] < 1 or params["warmup"] < 0 or params["message_size"] < 8:
        module.fail_json(msg="concurrency and duration must be 1 or more, warmup 0 or more, message_size 8 or more")
    run = Run(module)
    asyncio.run(run.main())
    if not run.latencies:
        module.fail_json(msg=f"no WebSocket round trip succeeded: {run.last_error}")
    module.exit_json(
        changed=False,
        figures=figures(run.latencies, run.errors, params["duration"]),
        rss_mib=round(run.peak_kib / 1024, 1),
        processes=run.peak_processes,
        last_error=run.last_error,
    )


if __name__ == "__main__":
    main()
