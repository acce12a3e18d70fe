# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for systemd units: how a server kind's are named and laid out, whether they run, their removal, helpers.

Documented in the YAML files named after each filter beside this file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError


def units_running(units: Mapping[str, Mapping[str, str]], names: Iterable[str], enabled: bool = True) -> bool:
    """True when every unit named is active, and enabled unless ``enabled`` is false."""
    return all(
        units.get(name, {}).get("ActiveState") == "active"
        and (not enabled or units.get(name, {}).get("UnitFileState") == "enabled")
        for name in names
    )


def server_unit(prefix: str, kind: str) -> str:
    """The name of a server kind's units: the prefix, a dash, and the kind with dashes (``demo-gunicorn-uvicorn``)."""
    if not prefix or not kind:
        raise AnsibleFilterError("asgi.stack.server_unit needs a prefix and a kind")
    return f"{prefix}-{kind.replace('_', '-')}"


def retired_kinds(kinds: Mapping[str, Mapping[str, Any]], chosen: str, prefix: str) -> list[dict[str, Any]]:
    """The kinds not chosen, each as {``unit``: its units' name, ``instances``: how many it runs}."""
    return [
        {"unit": server_unit(prefix, kind), "instances": int(properties.get("instances", 1))}
        for kind, properties in kinds.items()
        if kind != chosen
    ]


def _instances(entry: Mapping[str, Any]) -> list[str]:
    count = int(entry.get("instances", 1))
    return [str(number) for number in range(1, count + 1)] if count > 1 else []


def server_units(entry: Mapping[str, Any], unit: str, socket: str, instance_socket: str) -> dict[str, Any]:
    """The units and sockets of a kind (an entry of the kinds table) whose units are named ``unit``.

    One instance: ``unit``.service on ``socket``. Several (``instances`` in the
    entry, as daphne has): a template unit ``unit``@.service and its instances
    ``unit``@1.service, ... each on ``instance_socket`` with %i replaced by its
    number.
    """
    if not unit or not socket:
        raise AnsibleFilterError("asgi.stack.server_units needs the units' name and the socket")
    numbers = _instances(entry)
    if not numbers:
        return {
            "templated": False,
            "unit_file": f"{unit}.service",
            "services": [f"{unit}.service"],
            "sockets": [socket],
        }
    if "%i" not in instance_socket:
        raise AnsibleFilterError(f"asgi.stack.server_units: the instances' socket needs %i, got '{instance_socket}'")
    return {
        "templated": True,
        "unit_file": f"{unit}@.service",
        "services": [f"{unit}@{number}.service" for number in numbers],
        "sockets": [instance_socket.replace("%i", number) for number in numbers],
    }


def kind_services(kinds: Mapping[str, Mapping[str, Any]], prefix: str) -> dict[str, str]:
    """Each kind's first service (``demo-uvicorn.service``, ``demo-daphne@1.service``): it runs when the kind does."""
    services = {}
    for kind, entry in kinds.items():
        numbers = _instances(entry)
        unit = server_unit(prefix, kind)
        services[kind] = f"{unit}@{numbers[0]}.service" if numbers else f"{unit}.service"
    return services


def running_kind(kinds: Mapping[str, Mapping[str, Any]], prefix: str, units: Mapping[str, Mapping[str, str]]) -> str:
    """The kind whose first service is active in ``units`` (as asgi.stack.host_info reads them); '' when none is.

    A deploy leaves one kind running (asgi_server retires the others), so the first found is the one.
    """
    for kind, service in kind_services(kinds, prefix).items():
        if units.get(service, {}).get("ActiveState") == "active":
            return kind
    return ""


def _leftovers(unit: str, layout: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """A kind's unit files, and the other files and directories it leaves."""
    try:
        units = [f"{layout['unit_dir']}/{unit}{suffix}" for suffix in (".socket", ".service", "@.service")]
        others = [
            f"{layout['tmpfiles_dir']}/{unit}.conf",
            f"{layout['run_dir']}/{unit}",
            f"{layout['config_dir']}/{unit}.toml",
        ]
    except KeyError as missing:
        raise AnsibleFilterError(f"asgi.stack.retire_*: layout needs {missing}") from None
    return units, others


def retire_candidates(units: Iterable[Mapping[str, Any]], layout: Mapping[str, str]) -> list[str]:
    """Every path a server kind's units may have left: the paths asgi.stack.host_info reads for retire.yml.

    ``units`` lists the retired kinds as {``unit``: the units' name, ``instances``: how many};
    ``layout`` gives the directories: ``unit_dir``, ``tmpfiles_dir``, ``run_dir``, ``config_dir``.
    """
    paths = []
    for entry in units:
        unit_files, others = _leftovers(entry["unit"], layout)
        paths += unit_files + others
    return paths


def retire_plan(
    units: Iterable[Mapping[str, Any]],
    probe: Mapping[str, Any],
    layout: Mapping[str, str],
    also: Iterable[str] = (),
) -> dict[str, Any]:
    """What retire.yml stops and removes, from what the probe found of ``retire_candidates`` and ``also``.

    ``stop`` lists the units to stop and disable, sockets before services, so
    that no new connection reaches a service that is stopping; a template
    unit stands for its instances, 1 to ``instances``. ``remove`` lists the
    files and directories that exist, those of ``also`` included;
    ``units_removed`` tells whether systemd must reload.
    """
    found = probe.get("paths") if isinstance(probe, Mapping) else None
    if not isinstance(found, Mapping):
        raise AnsibleFilterError("asgi.stack.retire_plan takes the registered result of asgi.stack.host_info")

    def exists(path: str) -> bool:
        if path not in found:
            raise AnsibleFilterError(f"asgi.stack.retire_plan: the probe did not read '{path}'")
        return bool(found[path].get("exists"))

    sockets, services, remove, units_removed = [], [], [], False
    for entry in units:
        unit = entry["unit"]
        (socket_file, service_file, template_file), others = _leftovers(unit, layout)
        if exists(socket_file):
            sockets.append(f"{unit}.socket")
        if exists(service_file):
            services.append(f"{unit}.service")
        if exists(template_file):
            services += [f"{unit}@{number}.service" for number in _instances(entry) or ["1"]]
        unit_files = [path for path in (socket_file, service_file, template_file) if exists(path)]
        units_removed = units_removed or bool(unit_files)
        remove += unit_files + [path for path in others if exists(path)]
    remove += [path for path in also if exists(path)]
    return {"stop": sockets + services, "remove": remove, "units_removed": units_removed}


def server_helpers(
    kinds: Mapping[str, Mapping[str, Any]], chosen: str, lib_dir: str, signal_helper: str
) -> dict[str, Any]:
    """The helper files of the kinds: every Python helper, the chosen kind's, and those the chosen kind does not use.

    A kind's ``python_helper`` names a module installed as ``lib_dir``/<name>.py,
    with the modules it imports (``python_modules``) beside it; a kind with
    ``reload_signal`` reloads through the script ``signal_helper``, and one
    with ``stop_helper`` true stops through it too. ``unused`` lists what
    retire.yml removes: the other kinds' Python modules, ``lib_dir`` itself
    when the chosen kind has none, and the signal script when the chosen kind
    does not use it.
    """
    if chosen not in kinds:
        raise AnsibleFilterError(f"asgi.stack.server_helpers: no kind '{chosen}' in {sorted(kinds)}")

    def modules_of(properties: Mapping[str, Any]) -> list[str]:
        helper = properties.get("python_helper")
        return [helper, *properties.get("python_modules", [])] if helper else []

    modules: list[str] = []
    for properties in kinds.values():
        modules.extend(module for module in modules_of(properties) if module not in modules)
    python = [f"{lib_dir}/{module}.py" for module in modules]
    chosen_python = [f"{lib_dir}/{module}.py" for module in modules_of(kinds[chosen])]
    unused = ([] if chosen_python else [lib_dir]) + [path for path in python if path not in chosen_python]
    if not (kinds[chosen].get("reload_signal") or kinds[chosen].get("stop_helper", False)):
        unused.append(signal_helper)
    return {"python": python, "chosen_python": chosen_python, "unused": unused}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "server_unit": server_unit,
            "server_units": server_units,
            "retired_kinds": retired_kinds,
            "units_running": units_running,
            "retire_candidates": retire_candidates,
            "retire_plan": retire_plan,
            "server_helpers": server_helpers,
            "kind_services": kind_services,
            "running_kind": running_kind,
        }
