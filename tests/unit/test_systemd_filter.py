"""Unit tests for the filters that read units' state and plan the removal of a server kind."""

import importlib.util
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "filter" / "systemd.py"
spec = importlib.util.spec_from_file_location("systemd", PLUGIN)
systemd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(systemd)

LAYOUT = {
    "unit_dir": "/etc/systemd/system",
    "tmpfiles_dir": "/etc/tmpfiles.d",
    "run_dir": "/run",
    "config_dir": "/etc/asgi-stack/servers",
}
KINDS = {
    "gunicorn_uvicorn": {"socket_activation": True},
    "uvicorn": {"socket_activation": True},
    "daphne": {"socket_activation": False, "instances": 2},
    "hypercorn": {"socket_activation": True},
}

# Units as asgi.stack.host_info reads them.
UNITS = {
    "demo-uvicorn.socket": {"Id": "demo-uvicorn.socket", "ActiveState": "active", "UnitFileState": "enabled"},
    "demo-uvicorn.service": {"Id": "demo-uvicorn.service", "ActiveState": "active", "UnitFileState": "disabled"},
}


def test_the_unit_name_carries_the_prefix_and_the_kind_with_dashes():
    assert systemd.server_unit("demo", "gunicorn_uvicorn") == "demo-gunicorn-uvicorn"
    with pytest.raises(AnsibleFilterError):
        systemd.server_unit("", "uvicorn")


def test_units_run_when_active_and_enabled_unless_enabled_is_not_asked():
    units = UNITS
    assert systemd.units_running(units, ["demo-uvicorn.socket"])
    assert not systemd.units_running(units, ["demo-uvicorn.socket", "demo-uvicorn.service"]), "not enabled"
    assert not systemd.units_running(units, ["demo-other.service"]), "unknown unit"
    assert systemd.units_running(units, ["demo-uvicorn.socket", "demo-uvicorn.service"], enabled=False)


def test_the_kinds_not_chosen_are_retired_with_their_instances():
    retired = systemd.retired_kinds(KINDS, "uvicorn", "demo")
    assert retired == [
        {"unit": "demo-gunicorn-uvicorn", "instances": 1},
        {"unit": "demo-daphne", "instances": 2},
        {"unit": "demo-hypercorn", "instances": 1},
    ]


def probe_with(existing: set[str], paths: list[str]) -> dict:
    return {"paths": {path: {"exists": path in existing} for path in paths}}


def test_a_retired_kind_is_stopped_sockets_first_and_its_files_removed():
    retired = systemd.retired_kinds(KINDS, "uvicorn", "demo")
    candidates = systemd.retire_candidates(retired, LAYOUT)
    existing = {
        "/etc/systemd/system/demo-gunicorn-uvicorn.socket",
        "/etc/systemd/system/demo-gunicorn-uvicorn.service",
        "/etc/tmpfiles.d/demo-gunicorn-uvicorn.conf",
        "/run/demo-gunicorn-uvicorn",
        "/usr/local/sbin/helper",
    }
    helpers = ["/usr/local/sbin/helper", "/usr/local/lib/unused"]
    plan = systemd.retire_plan(retired, probe_with(existing, candidates + helpers), LAYOUT, also=helpers)
    assert plan["stop"] == ["demo-gunicorn-uvicorn.socket", "demo-gunicorn-uvicorn.service"]
    assert sorted(plan["remove"]) == sorted(existing)
    assert plan["units_removed"] is True


def test_a_template_unit_stops_every_instance():
    retired = systemd.retired_kinds(KINDS, "hypercorn", "demo")
    candidates = systemd.retire_candidates(retired, LAYOUT)
    existing = {"/etc/systemd/system/demo-daphne@.service", "/run/demo-daphne"}
    plan = systemd.retire_plan(retired, probe_with(existing, candidates), LAYOUT)
    assert plan["stop"] == ["demo-daphne@1.service", "demo-daphne@2.service"]
    assert sorted(plan["remove"]) == sorted(existing)


def test_nothing_left_means_nothing_to_do():
    retired = systemd.retired_kinds(KINDS, "uvicorn", "demo")
    candidates = systemd.retire_candidates(retired, LAYOUT)
    plan = systemd.retire_plan(retired, probe_with(set(), candidates), LAYOUT)
    assert plan == {"stop": [], "remove": [], "units_removed": False}


def test_a_probe_that_missed_a_candidate_or_a_layout_without_a_directory_is_refused():
    retired = systemd.retired_kinds(KINDS, "uvicorn", "demo")
    with pytest.raises(AnsibleFilterError, match="did not read"):
        systemd.retire_plan(retired, {"paths": {}}, LAYOUT)
    with pytest.raises(AnsibleFilterError, match="layout needs"):
        systemd.retire_candidates(retired, {"unit_dir": "/etc/systemd/system"})


ROLE = Path(__file__).resolve().parents[2] / "roles" / "asgi_server"
# The kinds table as the role has it (Jinja left as text: only the helpers are read).
TABLE = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["asgi_server_kinds"]
LIB = "/usr/local/lib/asgi-stack/python"
SIGNAL = "/usr/local/sbin/asgi-stack-server-signal"


def test_every_python_helper_of_the_table_is_a_file_of_the_role():
    helpers = systemd.server_helpers(TABLE, "daphne", LIB, SIGNAL)
    assert helpers["python"], "the table names no Python helper"
    for path in helpers["python"]:
        assert (ROLE / "files" / Path(path).name).is_file(), path


@pytest.mark.parametrize("kind", sorted(TABLE))
def test_a_kind_keeps_its_own_helpers_and_retires_the_others(kind):
    helpers = systemd.server_helpers(TABLE, kind, LIB, SIGNAL)
    own = TABLE[kind].get("python_helper")
    modules = [own, *TABLE[kind].get("python_modules", [])] if own else []
    assert helpers["chosen_python"] == [f"{LIB}/{module}.py" for module in modules]
    assert not set(helpers["chosen_python"]) & set(helpers["unused"])
    assert sorted(set(helpers["python"]) - set(helpers["chosen_python"])) == sorted(
        path for path in helpers["unused"] if path.endswith(".py")
    )
    assert (LIB in helpers["unused"]) is (own is None)
    uses_signal = bool(TABLE[kind]["reload_signal"]) or TABLE[kind].get("stop_helper", False)
    assert (SIGNAL in helpers["unused"]) is not uses_signal


def test_a_module_two_kinds_import_is_listed_once_and_kept_for_either():
    kinds = {
        "one": {"python_helper": "first", "python_modules": ["shared"]},
        "two": {"python_helper": "second", "python_modules": ["shared"]},
        "none": {},
    }
    helpers = systemd.server_helpers(kinds, "two", LIB, SIGNAL)
    assert helpers["python"] == [f"{LIB}/first.py", f"{LIB}/shared.py", f"{LIB}/second.py"]
    assert helpers["chosen_python"] == [f"{LIB}/second.py", f"{LIB}/shared.py"]
    assert helpers["unused"] == [f"{LIB}/first.py", SIGNAL]
    assert systemd.server_helpers(kinds, "none", LIB, SIGNAL)["unused"][0] == LIB


def test_helpers_of_an_unknown_kind_are_refused():
    with pytest.raises(AnsibleFilterError, match="no kind 'waitress'"):
        systemd.server_helpers(TABLE, "waitress", LIB, SIGNAL)


def test_a_kind_with_one_instance_runs_one_service_on_the_socket():
    assert systemd.server_units(
        {}, "demo-uvicorn", "/run/demo-uvicorn/asgi.sock", "/run/demo-uvicorn/asgi-%i.sock"
    ) == {
        "templated": False,
        "unit_file": "demo-uvicorn.service",
        "services": ["demo-uvicorn.service"],
        "sockets": ["/run/demo-uvicorn/asgi.sock"],
    }


def test_a_kind_with_instances_runs_a_template_unit_each_on_its_own_socket():
    units = systemd.server_units(
        {"instances": 2}, "demo-daphne", "/run/demo-daphne/asgi.sock", "/run/demo-daphne/asgi-%i.sock"
    )
    assert units == {
        "templated": True,
        "unit_file": "demo-daphne@.service",
        "services": ["demo-daphne@1.service", "demo-daphne@2.service"],
        "sockets": ["/run/demo-daphne/asgi-1.sock", "/run/demo-daphne/asgi-2.sock"],
    }


def test_the_instances_retire_plans_stop_are_those_the_kind_runs():
    # One rule for both: the services a kind runs and those retire.yml stops when it goes.
    entry = {"unit": "demo-daphne", "instances": 2}
    probe = {
        "paths": {path: {"exists": path.endswith("@.service")} for path in systemd.retire_candidates([entry], LAYOUT)}
    }
    plan = systemd.retire_plan([entry], probe, LAYOUT)
    assert plan["stop"] == systemd.server_units(entry, "demo-daphne", "/s", "/s-%i")["services"]


@pytest.mark.parametrize(
    ("unit", "socket", "instance_socket", "entry"),
    [("", "/s", "/s-%i", {}), ("demo-daphne", "", "/s-%i", {}), ("demo-daphne", "/s", "/s-1", {"instances": 2})],
)
def test_server_units_refuses_what_it_cannot_lay_out(unit, socket, instance_socket, entry):
    with pytest.raises(AnsibleFilterError, match="server_units"):
        systemd.server_units(entry, unit, socket, instance_socket)


def test_each_kind_runs_as_its_first_service():
    assert systemd.kind_services(KINDS, "demo") == {
        "gunicorn_uvicorn": "demo-gunicorn-uvicorn.service",
        "uvicorn": "demo-uvicorn.service",
        "daphne": "demo-daphne@1.service",
        "hypercorn": "demo-hypercorn.service",
    }


def test_the_running_kind_is_the_one_whose_service_is_active():
    assert systemd.running_kind(KINDS, "demo", UNITS) == "uvicorn"
    daphne = {"demo-daphne@1.service": {"ActiveState": "active"}, "demo-uvicorn.service": {"ActiveState": "inactive"}}
    assert systemd.running_kind(KINDS, "demo", daphne) == "daphne"
    assert systemd.running_kind(KINDS, "demo", {"demo-uvicorn.service": {"ActiveState": "failed"}}) == ""
