"""Every package a server kind installs has a floor above the releases with published security fixes.

The floors have one home, the kinds table's packages (roles/asgi_server/vars/main.yml). Each fix
below names the last release without it; a kind that runs the package (itself or as the HTTP
library its server parses requests with) must require a release that has it.
"""

from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    kind: entry["packages"]
    for kind, entry in yaml.safe_load((ROOT / "roles" / "asgi_server" / "vars" / "main.yml").read_text())[
        "asgi_server_kinds"
    ].items()
}

# package: (the last release without the fix, the first with it, what it fixes)
FIXES = {
    "daphne": ("4.2.1", "4.2.2", "CVE-2026-44545 unbounded WebSocket messages; CVE-2026-44546 headers smuggled"),
    "h11": ("0.15.0", "0.16.0", "CVE-2025-43859 malformed chunked bodies accepted (request smuggling)"),
    "h2": ("4.2.0", "4.3.0", "CVE-2025-57804 CRLF in HTTP/2 headers (request splitting)"),
    "twisted": ("24.3.0", "24.7.0", "CVE-2024-41671 pipelined requests out of order; CVE-2024-41810"),
    "gunicorn": ("22.0.0", "23.0.0", "CVE-2024-1135, CVE-2024-6827 request smuggling"),
    "uvicorn": ("0.11.6", "0.11.7", "CVE-2020-7694, CVE-2020-7695 log and response splitting"),
}
# What each kind runs of the packages above, its server and the libraries it parses HTTP with.
RUNS = {
    "gunicorn_uvicorn": {"gunicorn", "uvicorn", "h11"},
    "gunicorn_asgi": {"gunicorn", "uvicorn"},
    "uvicorn": {"uvicorn", "h11"},
    "daphne": {"daphne", "twisted"},
    "hypercorn": {"h11", "h2"},
    # granian parses HTTP in its own Rust core; none of the fixes above concern it.
    "granian": set(),
}


# Known production bugs of a package as one kind runs it:
# (kind, package): (the last release with the bug, the first without it, the bug)
KIND_FIXES = {
    ("gunicorn_asgi", "gunicorn"): (
        "26.1.0",
        "27.0.0",
        "a stopping ASGI worker closes a kept-alive connection without Connection: close (nginx: 502 to a POST);"
        " 25.1 to 26.0 also leak Django's idle database connections",
    ),
    # uvicorn before 0.50 speaks WebSocket through the legacy protocol, whose stop closes the connection as soon
    # as its close frame has gone: files/asgi_stack_uvicorn.py gives the sans-I/O protocol's a closing handshake.
    **{
        (kind, "uvicorn"): ("0.49.0", "0.50.0", "a WebSocket whose client keeps sending loses the stop's close frame")
        for kind in ("gunicorn_uvicorn", "uvicorn")
    },
}


def requirements(kind: str) -> dict[str, Requirement]:
    return {Requirement(line).name.lower(): Requirement(line) for line in PACKAGES[kind]}


def test_every_kind_is_checked():
    assert set(RUNS) == set(PACKAGES)


@pytest.mark.parametrize("kind", sorted(PACKAGES))
def test_every_requirement_has_a_floor(kind: str):
    for name, requirement in requirements(kind).items():
        assert any(spec.operator in (">=", "==", "~=") for spec in requirement.specifier), (
            f"{kind}: {name} has no floor"
        )


@pytest.mark.parametrize(
    ("kind", "package"), sorted({(kind, package) for kind, runs in RUNS.items() for package in runs} | set(KIND_FIXES))
)
def test_the_floor_leaves_out_releases_without_the_fix(kind: str, package: str):
    last_without, first_with, fixes = KIND_FIXES.get((kind, package), FIXES[package])
    requirement = requirements(kind).get(package)
    assert requirement, f"{kind} runs {package} but does not require a release with {fixes}"
    assert Version(last_without) not in requirement.specifier, f"{kind}: {requirement} admits {last_without} ({fixes})"
    assert requirement.specifier.contains(first_with) or Version(first_with) < min(
        Version(spec.version) for spec in requirement.specifier if spec.operator == ">="
    )
