#!/usr/bin/python
# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: benchmark_report
short_description: Write the benchmark's report, its raw figures and its chart
version_added: 0.3.0
description:
  - Writes into O(dest) the figures that the benchmark role measured (M(asgi.stack.http_load) and
    M(asgi.stack.websocket_load)) as C(results.json), a Markdown report C(report.md) (the proxy overhead
    of each kind, the comparisons asked for, a table per URL) and a chart C(chart.png) or C(chart.svg)
    of requests per second and 99th percentile latency per kind and concurrency, drawn with matplotlib.
  - Runs where the report goes (the benchmark role delegates it to the controller).
  - With O(check_only), writes nothing and only checks that matplotlib is there and O(dest) can be made,
    so that the benchmark can refuse to start rather than fail after its runs.
author: asgi.stack contributors (!UNKNOWN)
requirements: [matplotlib>=3.8]
options:
  dest:
    description: The directory of the report, made if missing.
    type: path
    required: true
  rows:
    description:
      - The measurements, each with C(kind), C(url) (a name from O(urls)), C(through) (V(nginx) or V(server)),
        C(protocol), C(concurrency), C(figures), C(rss_mib) and C(processes), and C(settings) (their name) and
        C(own) (false for settings other than the host's own, which the ratios and the chart leave out and the
        sweep compares), and C(round) (from 1) when each kind went through its settings more than once.
      - The rows of one run (the same kind, settings, URL, way in, protocol and concurrency) in several rounds make
        one row of the report and of C(results.json), with the median of each figure over the rounds, the requests
        and errors of all of them, and the requests per second of each round (C(rps_rounds)); C(results.json)
        keeps the rows as given in C(runs).
    type: list
    elements: dict
    default: []
  urls:
    description: The URLs measured, each with C(name), C(path) and optionally C(versus) (another's name).
    type: list
    elements: dict
    default: []
  about:
    description: What to say of the run at the top of the report (C(host) heads it), such as the host and the settings.
    type: dict
    default: {}
  chart_format:
    description: The chart's file format.
    type: str
    choices: [png, svg]
    default: png
  check_only:
    description: Only check that the report can be written.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports whether files would change and writes none.
  diff_mode:
    support: none
    description: The report is new data each run; no difference is shown.
  platform:
    support: full
    platforms: posix
    description: Runs on the controller.
"""

EXAMPLES = r"""
- name: Write the report on the controller
  asgi.stack.benchmark_report:
    dest: ./benchmark-report/web1
    rows: "{{ benchmark_rows }}"
    urls: "{{ benchmark_urls }}"
    about: {host: web1, cpus: 2}
  delegate_to: localhost
"""

RETURN = r"""
files:
  description: The files written.
  returned: success
  type: list
  elements: path
proxy_overhead:
  description:
    - Per kind and URL, requests per second through nginx over straight to the server, at the highest concurrency.
  returned: success
  type: dict
versus:
  description: Per comparison asked for (a URL's C(versus)) and kind, the ratio of requests per second.
  returned: success
  type: dict
fastest:
  description: Per URL, the kind with the most requests per second through nginx at the highest concurrency.
  returned: success
  type: dict
sweep:
  description:
    - Per kind measured with other settings too, and per URL, through nginx at the highest concurrency, the host's
      own settings against the best measured, C(own_rps), C(best) (the settings' name), C(best_rps) and
      C(own_over_best) (medians over the rounds), and C(own_rps_rounds) and C(best_rps_rounds) (each round's).
  returned: success
  type: dict
"""

import json
import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.asgi.stack.plugins.module_utils.benchmark import (
    THROUGH_LABELS,
    combine_rounds,
    fastest,
    markdown,
    own,
    proxy_overhead,
    sweep,
    versus,
)

try:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
except ImportError:
    MATPLOTLIB_ERROR = traceback.format_exc()
else:
    MATPLOTLIB_ERROR = None

LINE_STYLES = {"nginx": "-", "server": "--"}


def chart(rows: list[dict], urls: list[dict], about: dict, path: str) -> None:
    """Requests per second (top) and p99 latency (bottom) against connections, a column per URL, a colour per kind.

    Through nginx over HTTP/1.1 (WebSocket for a WebSocket URL) as solid lines, straight to the server dashed.
    """
    names = [url["name"] for url in urls if any(row["url"] == url["name"] for row in rows)]
    kinds = list(dict.fromkeys(row["kind"] for row in rows))
    colours = {kind: f"C{index}" for index, kind in enumerate(kinds)}
    figure, axes = pyplot.subplots(2, len(names), figsize=(4.2 * len(names), 7.5), squeeze=False)
    for column, name in enumerate(names):
        for kind in kinds:
            for through, style in LINE_STYLES.items():
                series = sorted(
                    (
                        row
                        for row in rows
                        if row["url"] == name
                        and row["kind"] == kind
                        and row["through"] == through
                        and row["protocol"] in ("http/1.1", "websocket")
                    ),
                    key=lambda row: row["concurrency"],
                )
                if not series:
                    continue
                x = [row["concurrency"] for row in series]
                label = f"{kind} ({through})"
                axes[0][column].plot(
                    x, [row["figures"]["rps"] for row in series], style, marker="o", color=colours[kind], label=label
                )
                axes[1][column].plot(
                    x, [row["figures"]["p99_ms"] for row in series], style, marker="o", color=colours[kind], label=label
                )
        axes[0][column].set_title(name)
        levels = sorted({row["concurrency"] for row in rows})
        for row_axes, unit in ((axes[0][column], "requests/s"), (axes[1][column], "p99 latency, ms")):
            row_axes.set_xscale("log", base=2)
            row_axes.set_xticks(levels, [str(level) for level in levels])
            row_axes.minorticks_off()
            row_axes.set_ylim(bottom=0)
            row_axes.set_xlabel("connections")
            row_axes.set_ylabel(unit)
            row_axes.grid(True, alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    for column_axes in axes[0][1:]:
        for handle, label in zip(*column_axes.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize="small")
    figure.suptitle(
        f"{about.get('host', '')}: solid {THROUGH_LABELS['nginx']}, dashed {THROUGH_LABELS['server']}",
        fontsize="medium",
    )
    figure.tight_layout(rect=(0, 0.06 + 0.03 * (len(labels) // 6), 1, 0.96))
    figure.savefig(path)
    pyplot.close(figure)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "dest": {"type": "path", "required": True},
            "rows": {"type": "list", "elements": "dict", "default": []},
            "urls": {"type": "list", "elements": "dict", "default": []},
            "about": {"type": "dict", "default": {}},
            "chart_format": {"type": "str", "choices": ["png", "svg"], "default": "png"},
            "check_only": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    params = module.params
    if MATPLOTLIB_ERROR:
        module.fail_json(
            msg=missing_required_lib("matplotlib", reason="to draw the benchmark's chart"), exception=MATPLOTLIB_ERROR
        )
    dest = params["dest"]
    parent = dest
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.access(parent, os.W_OK):
        module.fail_json(msg=f"the report's directory {dest} cannot be made: {parent} is not writable")
    if params["check_only"]:
        module.exit_json(changed=False)
    runs, urls, about = params["rows"], params["urls"], params["about"]
    rows = combine_rounds(runs)
    files = [os.path.join(dest, name) for name in ("results.json", "report.md", f"chart.{params['chart_format']}")]
    mine = own(rows)
    summary = {
        "proxy_overhead": proxy_overhead(mine),
        "versus": versus(mine, urls),
        "fastest": fastest(mine),
        "sweep": sweep(rows),
    }
    if not module.check_mode:
        os.makedirs(dest, exist_ok=True)
        with open(files[0], "w", encoding="utf-8") as results:
            json.dump({"about": about, "urls": urls, "rows": rows, "runs": runs, **summary}, results, indent=2)
        with open(files[1], "w", encoding="utf-8") as report:
            report.write(markdown(rows, urls, about) + "\n")
        chart(mine, urls, about, files[2])
    module.exit_json(changed=True, files=files, **summary)


if __name__ == "__main__":
    main()
