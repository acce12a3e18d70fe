"""Unit tests for the connections PostgreSQL sizes max_connections for."""

import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "filter" / "database.py"
spec = importlib.util.spec_from_file_location("database", PLUGIN)
database = importlib.util.module_from_spec(spec)
spec.loader.exec_module(database)


def test_every_process_of_every_app_host_twice_with_its_pool_plus_the_reserve():
    hostvars = {"app1": {"asgi_server_processes": 5}, "app2": {"asgi_server_processes": "2"}, "db": {}}
    assert database.database_connections(["app1", "app2"], hostvars, 4) == (5 + 2) * 4 * 2 + 10


def test_a_host_left_out_of_the_run_counts_as_the_largest_known():
    hostvars = {"app1": {"asgi_server_processes": 5}, "app2": {"asgi_server_processes": 2}, "app3": {}}
    assert database.database_connections(["app1", "app2", "app3"], hostvars, "3") == (5 + 2 + 5) * 3 * 2 + 10


@pytest.mark.parametrize("app_hosts", [[], ["app1"]])
def test_nothing_known_is_0(app_hosts):
    assert database.database_connections(app_hosts, {"app1": {}}, 4) == 0


@pytest.mark.parametrize(
    ("app_hosts", "hostvars", "pool_size", "message"),
    [
        ("app1", {}, 4, "expects the list of app hosts"),
        (["app1"], {"app1": {"asgi_server_processes": 5}}, 0, "pool_size must be 1 or more, got 0"),
        (["app1"], {"app1": {"asgi_server_processes": 5}}, "many", "pool_size must be a whole number, got 'many'"),
        (["app1"], {"app1": {"asgi_server_processes": "x"}}, 4, "asgi_server_processes of app1 must be a whole number"),
    ],
)
def test_bad_input_is_named(app_hosts, hostvars, pool_size, message):
    with pytest.raises(AnsibleFilterError, match=message):
        database.database_connections(app_hosts, hostvars, pool_size)


HBA = """# TYPE  DATABASE        USER            ADDRESS                 METHOD
local   all             postgres                                peer
host    all             all             127.0.0.1/32            scram-sha-256
host\tdemo\tdemo\t127.0.0.1/32\tscram-sha-256
hostssl\tdemo\tdemo\t10.0.0.0/24\tscram-sha-256  # the app hosts
"""


def test_only_the_rules_the_file_lacks_are_returned_host_from_the_loopback_else_hostssl():
    missing = database.hba_rules_missing
    assert missing(["127.0.0.1/32", "10.0.0.0/24"], HBA, "demo", "demo") == []
    assert missing(["127.0.0.1/32", "10.0.1.0/24", "::1/128"], HBA, "demo", "demo") == [
        {"contype": "hostssl", "address": "10.0.1.0/24"},
        {"contype": "host", "address": "::1/128"},
    ]
    # Another database, role or method is another rule; no file, every rule.
    assert missing(["127.0.0.1/32"], HBA, "other", "demo") == [{"contype": "host", "address": "127.0.0.1/32"}]
    assert missing(["127.0.0.1/32"], HBA, "demo", "demo", "md5") == [{"contype": "host", "address": "127.0.0.1/32"}]
    assert missing(["10.0.0.0/24"], None, "demo", "demo") == [{"contype": "hostssl", "address": "10.0.0.0/24"}]
    # A rule that allows the network without TLS is not the one wanted.
    assert missing(["10.0.0.0/24"], "host demo demo 10.0.0.0/24 scram-sha-256\n", "demo", "demo") == [
        {"contype": "hostssl", "address": "10.0.0.0/24"}
    ]


def test_a_client_that_is_not_a_network_is_named():
    with pytest.raises(AnsibleFilterError, match=r"'db\.example\.org' is not a network"):
        database.hba_rules_missing(["db.example.org"], HBA, "demo", "demo")
