"""Unit tests for the upstream's server list, the balancer's endpoints and the rollout's outcomes."""

import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

FILTERS = Path(__file__).resolve().parents[2] / "plugins" / "filter"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, FILTERS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


balancer = load("balancer")
rollout = load("rollout")
UPSTREAM = {
    "file": "/etc/nginx/asgi-stack/demo.upstream.conf",
    "servers": ["10.0.0.11:443", "10.0.0.12:443"],
    "tries": 3,
}


def servers(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_each_server_is_listed_once_per_try_in_turn():
    assert (
        servers(balancer.upstream_servers(UPSTREAM))
        == [
            "server 10.0.0.11:443 max_fails=0;",
            "server 10.0.0.12:443 max_fails=0;",
        ]
        * 3
    )


def test_a_drained_server_is_down_in_every_entry():
    lines = servers(balancer.upstream_servers(UPSTREAM, down=["10.0.0.12:443"]))
    assert lines.count("server 10.0.0.12:443 down;") == 3
    assert lines.count("server 10.0.0.11:443 max_fails=0;") == 3


def test_draining_every_server_drains_none():
    both = balancer.upstream_servers(UPSTREAM, down=UPSTREAM["servers"])
    assert both == balancer.upstream_servers(UPSTREAM)


def test_the_same_input_renders_the_same_file():
    # nginx_proxy writes it, the drain rewrites it: a rejoin must give back nginx_proxy's file.
    assert balancer.upstream_servers(UPSTREAM, down=[]) == balancer.upstream_servers(dict(UPSTREAM))


def test_unix_sockets_are_servers_too():
    text = balancer.upstream_servers({"servers": ["unix:/run/demo/asgi.sock"], "tries": 1})
    assert servers(text) == ["server unix:/run/demo/asgi.sock max_fails=0;"]


@pytest.mark.parametrize(
    ("upstream", "message"),
    [
        ({"servers": [], "tries": 3}, "at least one server"),
        ({"servers": ["a:1"], "tries": 0}, "tries must be 1 or more"),
        ({"tries": 3}, "expects a dict with a list of servers"),
        (["a:1"], "expects a dict"),
    ],
)
def test_bad_upstreams_are_refused(upstream, message):
    with pytest.raises(AnsibleFilterError, match=message):
        balancer.upstream_servers(upstream)


@pytest.mark.parametrize(
    ("address", "port", "expected"),
    [("10.0.0.11", 443, "10.0.0.11:443"), ("fd00::11", "8443", "[fd00::11]:8443")],
)
def test_endpoints(address, port, expected):
    assert balancer.endpoint(address, port) == expected


@pytest.mark.parametrize("address", ["", "app1.internal", "10.0.0.0/24", None])
def test_an_endpoint_needs_an_ip_address(address):
    with pytest.raises(AnsibleFilterError, match="expects an IP address"):
        balancer.endpoint(address, 443)


HOSTVARS = {
    "app1": {"deploy_rollout": {"failed": False, "switched": True, "release": "b", "previous": "a"}},
    "app2": {"deploy_rollout": {"failed": True, "switched": False, "task": "Health gate", "error": "500"}},
    "app3": {"deploy_rollout": {"failed": False, "switched": False, "release": "a", "previous": "z"}},
    "app4": {},
}


def test_the_failed_hosts_with_their_errors():
    assert rollout.rollout_failures(["app1", "app2", "app3", "app4", "gone"], HOSTVARS) == [
        {"host": "app2", "task": "Health gate", "error": "500"}
    ]


def test_the_hosts_that_switched():
    assert rollout.rollout_switched(["app1", "app2", "app3", "app4"], HOSTVARS) == [
        {"host": "app1", "release": "b", "previous": "a"}
    ]


def test_a_rollout_without_outcomes_has_no_failures():
    assert rollout.rollout_failures(["app4"], HOSTVARS) == []


def test_the_hosts_must_be_a_list():
    with pytest.raises(AnsibleFilterError, match="expect a list of hosts"):
        rollout.rollout_failures("app1", HOSTVARS)
