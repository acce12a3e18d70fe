"""What the suite and the README derive from the server kinds table (roles/asgi_server/vars/main.yml).

kinds_table.py kinds          the kinds, in the table's order, one per line
kinds_table.py switch-order   the order one host goes through the kinds: each
                              switch that the runs per kind do not make, once
kinds_table.py debian13-runs  the Debian 13 hosts' kinds, one host per line
                              (KIND+KIND: the host goes on to the next kind)
kinds_table.py readme         the README's table of kinds (Markdown)
kinds_table.py readme --write README.md
                              puts that table into the README, between its markers
kinds_table.py spec --write   puts the kinds into asgi_server_kind's choices in
                              the role's argument spec (meta/argument_specs.yml)
"""

from __future__ import annotations

import itertools
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "asgi_server"
SPEC = ROLE / "meta" / "argument_specs.yml"
# asgi_server_kind's choices in the argument spec, on one line.
SPEC_CHOICES = re.compile(r"(\n      asgi_server_kind:\n(?:        .*\n)*?        choices: )\[[^\]\n]*\]")
BEGIN = "<!-- kinds table: tests/harness/kinds_table.py readme --write README.md -->"
END = "<!-- end of kinds table -->"


def table() -> dict[str, dict]:
    return yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["asgi_server_kinds"]


def packages() -> dict[str, list[str]]:
    return {kind: entry["packages"] for kind, entry in table().items()}


def switch_order(kinds: list[str]) -> list[str]:
    """The kinds one host goes through so that, with the runs per kind, every kind follows every other.

    The runs per kind switch each kind to the next in the table (debian13_runs),
    so this walk makes every other ordered switch, each once: first the table
    backwards, so that the first visits are each kind once (each gets the whole
    verify suite after its switch), then, from where that ends, a walk through
    the switches left (Hierholzer's algorithm: every kind is left as often as
    it is reached, so one walk takes each switch once and ends where it began).
    """
    forwards = {(kind, kinds[(index + 1) % len(kinds)]) for index, kind in enumerate(kinds)}
    walk = list(reversed(kinds))
    left = {
        kind: [other for other in reversed(kinds) if other != kind and (kind, other) not in forwards] for kind in kinds
    }
    for kind, following in itertools.pairwise(walk):
        left[kind].remove(following)
    stack, rest = [walk[-1]], []
    while stack:
        if left[stack[-1]]:
            stack.append(left[stack[-1]].pop(0))
        else:
            rest.append(stack.pop())
    return walk + list(reversed(rest))[1:]


def debian13_runs(kinds: list[str], per_host: int = 2) -> list[list[str]]:
    """The Debian 13 hosts' kinds: the table cut into runs of PER_HOST kinds.

    Each kind's deploys under load end with a switch to the next kind in the
    table (tests/integration/test_zero_downtime.py), so a host goes on with the
    kind it was switched to: a host less to create and converge per kind
    added, and every kind still verified and loaded on its own run.
    """
    return [kinds[start : start + per_host] for start in range(0, len(kinds), per_host)]


def _socket(entry: dict) -> str:
    instances = int(entry.get("instances", 1))
    if entry["socket_activation"]:
        return "held by systemd (socket activation)"
    own = "bound by the server itself"
    return f"{own}, one per instance ({instances} side by side)" if instances > 1 else own


# How a kind's server replaces its workers when it reloads (reload_order in the table).
RELOAD_ORDERS = {
    "all_new_first": "new workers start, then the old ones finish their requests and stop",
    "one_by_one_ready": "one worker at a time: each new one serves, then its predecessor finishes and stops",
    "one_by_one_timed": "one worker at a time: each old one stops a fixed interval after its successor started",
    "all_old_first": "the old workers finish their requests and stop, then new ones start (requests wait meanwhile)",
}


def _reload(entry: dict) -> str:
    if entry["reload_signal"]:
        return (
            f"SIG{entry['reload_signal']}: {RELOAD_ORDERS[entry['reload_order']]};"
            " `systemctl reload` returns once the old workers are gone"
        )
    if int(entry.get("instances", 1)) > 1:
        return "none: the instances restart one after the other"
    return "none: a restart"


def _headers(entry: dict) -> str:
    cleared = [f"clears `{name}`" for name in entry.get("proxy_clear_request_headers", [])]
    hidden = [f"hides `{name}`" for name in entry.get("proxy_hide_response_headers", [])]
    return ", ".join(cleared + hidden) or "none"


def _ready(entry: dict) -> str:
    if not entry.get("ready_when_serving"):
        return "while it still loads the app (requests wait)"
    if not entry["workers"] or entry["type"] == "exec":
        return "once it serves the app"
    if entry.get("notify_access") == "all":
        return "once its first worker serves the app"
    return "once every worker serves the app"


def _websocket(entry: dict) -> str:
    lost = f" (lost {entry['websocket_stop_lost']})" if entry.get("websocket_stop_lost") else ""
    when = " once no worker has a request running" if entry.get("websocket_stop_after_requests") else ""
    return f"close frame {entry['websocket_stop']}{when}{lost}, the client connects again"


def readme_table() -> str:
    rows = [
        "| `asgi_server_kind` | what | processes | listening socket | reload | a restart returns"
        " | a WebSocket at a stop | own TLS | helper | nginx | packages |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    wanted = packages()
    for kind, entry in table().items():
        modules = [entry["python_helper"], *entry.get("python_modules", [])] if entry.get("python_helper") else []
        helper = ", ".join(f"`{module}.py`" for module in modules) or "none"
        rows.append(
            f"| `{kind}` | {entry['description']} "
            f"| {'workers (`asgi_server_workers`)' if entry['workers'] else 'one'} "
            f"| {_socket(entry)} | {_reload(entry)} | {_ready(entry)} | {_websocket(entry)} "
            f"| {'yes' if entry['tls'] else 'no'} | {helper} "
            f"| {_headers(entry)} | {', '.join(f'`{line}`' for line in wanted.get(kind, []))} |"
        )
    return "\n".join(rows)


def readme_with_table(text: str) -> str:
    before, begin, rest = text.partition(BEGIN)
    _old, end, after = rest.partition(END)
    if not begin or not end:
        raise SystemExit(f"the README has no markers {BEGIN} ... {END}")
    return f"{before}{BEGIN}\n{readme_table()}\n{END}{after}"


def spec_with_choices(text: str, kinds: list[str]) -> str:
    """The argument spec's text with asgi_server_kind's choices set to KINDS."""
    changed, count = SPEC_CHOICES.subn(lambda found: f"{found[1]}[{', '.join(kinds)}]", text)
    if count != 1:
        raise SystemExit(f"{SPEC} has no one line of choices for asgi_server_kind")
    return changed


def main(argv: list[str]) -> int:
    kinds = list(table())
    if argv[:1] == ["kinds"]:
        print("\n".join(kinds))
    elif argv[:1] == ["switch-order"]:
        print("\n".join(switch_order(kinds)))
    elif argv[:1] == ["debian13-runs"]:
        print("\n".join("+".join(run) for run in debian13_runs(kinds)))
    elif argv[:1] == ["readme"] and argv[1:2] == ["--write"] and len(argv) == 3:
        path = Path(argv[2])
        path.write_text(readme_with_table(path.read_text()))
    elif argv == ["spec", "--write"]:
        SPEC.write_text(spec_with_choices(SPEC.read_text(), kinds))
    elif argv == ["readme"]:
        print(readme_table())
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
