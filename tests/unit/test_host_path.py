"""The host_path lookup: the places the roles share on a host, named once."""

from pathlib import Path

import pytest
from ansible.errors import AnsibleLookupError
from ansible_collections.asgi.stack.plugins.lookup.host_path import LookupModule, host_path


@pytest.mark.parametrize(
    ("terms", "path"),
    [
        (["config"], "/etc/asgi-stack"),
        (["config", "servers"], "/etc/asgi-stack/servers"),
        (["state", "acme", "site"], "/var/lib/asgi-stack/acme/site"),
        (["lib", "python"], "/usr/local/lib/asgi-stack/python"),
        (["command", "unit-check"], "/usr/local/sbin/asgi-stack-unit-check"),
        (["firewall", "redis"], "/etc/asgi-stack/firewall/redis.nft"),
    ],
)
def test_places(terms, path):
    assert host_path(*terms) == path


@pytest.mark.parametrize(
    "terms",
    [
        ["etc"],
        ["config", "../../root"],
        ["config", "a/b"],
        ["config", ""],
        ["command"],
        ["command", "a", "b"],
        ["firewall", "a", "b"],
    ],
)
def test_what_is_not_a_place_is_refused(terms):
    with pytest.raises(ValueError):
        host_path(*terms)


def test_the_lookup_returns_one_path_and_says_what_is_wrong():
    lookup = LookupModule()
    assert lookup.run(["config", "tls"]) == ["/etc/asgi-stack/tls"]
    with pytest.raises(AnsibleLookupError, match="host_path: no place 'etc'"):
        lookup.run(["etc"])


def test_no_role_writes_a_shared_place_itself():
    # Every path under the shared places comes from the lookup, not from a copy of it.
    root = Path(__file__).resolve().parents[2] / "roles"
    places = ["/etc/asgi-stack", "/var/lib/asgi-stack", "/usr/local/lib/asgi-stack", "/usr/local/sbin/asgi-stack-"]
    found = [
        f"{path.relative_to(root)}:{number}"
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix in {".yml", ".j2"} and "argument_specs" not in path.name
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if any(place in line for place in places) and not line.lstrip().startswith(("#", "{#"))
    ]
    assert not found, found
