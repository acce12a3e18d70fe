# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options and attributes that the load modules (http_load, websocket_load) share."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  connect_to:
    description: C(HOST:PORT) to connect to instead of the URL's name and port.
    type: str
  sockets:
    description:
      - Unix sockets to connect to instead, the connections shared out among them as evenly as possible (a server
        that runs several instances, each on a socket of its own); the figures are those of all of them together.
    type: list
    elements: path
    default: []
  headers:
    description: Request headers, each its name, a colon and its value.
    type: list
    elements: str
    default: []
  concurrency:
    description: Concurrent connections, each with one request (or message) in flight.
    type: int
    required: true
  duration:
    description: Seconds of measured load.
    type: int
    default: 10
  warmup:
    description: Seconds of load before the measurement starts.
    type: int
    default: 2
  units:
    description: systemd units whose processes' resident memory is sampled every half second during the load.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: none
    description: A load test has no dry run; in check mode Ansible skips it.
  diff_mode:
    support: none
    description: Changes nothing on the host.
"""
