"""Unit tests for the check of the addresses a service listens on."""

import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "filter" / "network.py"
spec = importlib.util.spec_from_file_location("network", PLUGIN)
network = importlib.util.module_from_spec(spec)
spec.loader.exec_module(network)


def test_ipv4_and_ipv6_addresses_are_accepted():
    assert network.not_ip_addresses(["127.0.0.1", "10.0.0.5", "::1", "fd00::10"]) == []


@pytest.mark.parametrize(
    "item", ["localhost", "redis.internal", "10.0.0.0/24", "10.0.0.5:6379", "256.1.1.1", "", 167772165, None]
)
def test_anything_else_is_named(item):
    assert network.not_ip_addresses(["127.0.0.1", item]) == [item]


def test_a_list_is_required():
    with pytest.raises(AnsibleFilterError, match="expects a list"):
        network.not_ip_addresses("127.0.0.1")


def test_networks_with_a_prefix_are_accepted():
    assert network.not_ip_networks(["127.0.0.1/32", "10.0.0.0/24", "10.0.0.5/24", "fd00::/64", "::1/128"]) == []


@pytest.mark.parametrize("item", ["127.0.0.1", "10.0.0.0/33", "localhost/32", "samehost", "", None, 24])
def test_anything_but_a_network_is_named(item):
    assert network.not_ip_networks(["10.0.0.0/24", item]) == [item]


def test_networks_need_a_list():
    with pytest.raises(AnsibleFilterError, match="expects a list"):
        network.not_ip_networks("10.0.0.0/24")


def test_only_the_addresses_other_hosts_reach_are_kept():
    assert network.not_loopback(["127.0.0.1", "127.0.1.1", "::1", "10.0.0.20", "fd00::20", "db.internal"]) == [
        "10.0.0.20",
        "fd00::20",
        "db.internal",
    ]
    with pytest.raises(AnsibleFilterError, match="not_loopback expects a list"):
        network.not_loopback("127.0.0.1")


def test_addresses_become_the_networks_of_each_alone():
    assert network.host_networks(["10.0.0.5", "fd00::10"]) == ["10.0.0.5/32", "fd00::10/128"]


@pytest.mark.parametrize("items", ["10.0.0.5", ["10.0.0.0/24"], ["balancer.internal"]])
def test_anything_but_a_list_of_addresses_is_refused(items):
    with pytest.raises(AnsibleFilterError, match="host_networks expects"):
        network.host_networks(items)
