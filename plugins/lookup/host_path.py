# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lookup plugin: where the collection keeps its files on a host, the one home of those places."""

from __future__ import annotations

DOCUMENTATION = r"""
name: host_path
author: asgi.stack contributors (!UNKNOWN)
version_added: 0.2.0
short_description: A path where the collection keeps its files on a host
description:
  - The places that several roles of the collection share on a host, named once. The first term names the place,
    the others are joined below it.
  - V(config) is C(/etc/asgi-stack) (settings, certificates); V(state) is C(/var/lib/asgi-stack) (state kept across
    runs); V(lib) is C(/usr/local/lib/asgi-stack) (helpers the servers import); V(command) names a command in
    C(/usr/local/sbin), C(asgi-stack-<name>); V(firewall) names a rule set of M(asgi.stack.firewall),
    C(/etc/asgi-stack/firewall/<name>.nft), which the roles that apply it read before they do.
options:
  _terms:
    description: The place, then the parts of the path below it (for V(command), the command's name).
    required: true
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Where hypercorn's settings files go
  ansible.builtin.debug:
    msg: "{{ lookup('asgi.stack.host_path', 'config', 'servers') }}"
"""

RETURN = r"""
_raw:
  description: The path.
  type: list
  elements: path
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

PLACES = {
    "config": "/etc/asgi-stack",
    "state": "/var/lib/asgi-stack",
    "lib": "/usr/local/lib/asgi-stack",
}
COMMANDS = "/usr/local/sbin/asgi-stack-"
# One name each, a file with a suffix: these take exactly one part.
NAMED = {"command": (COMMANDS, ""), "firewall": ("/etc/asgi-stack/firewall/", ".nft")}


def host_path(place: str, *parts: str) -> str:
    """The path of ``place`` with ``parts`` below it; for ``command``, the command named by the one part."""
    if any(not part or "/" in part or part in (".", "..") for part in parts):
        raise ValueError(f"each part is one name without '/', got {list(parts)}")
    if place in NAMED:
        if len(parts) != 1:
            raise ValueError(f"'{place}' takes one name, got {list(parts)}")
        prefix, suffix = NAMED[place]
        return prefix + parts[0] + suffix
    if place not in PLACES:
        raise ValueError(f"no place '{place}'; the places are {sorted([*PLACES, *NAMED])}")
    return "/".join([PLACES[place], *parts])


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if not terms:
            raise AnsibleLookupError("asgi.stack.host_path needs a place")
        try:
            return [host_path(*[str(term) for term in terms])]
        except ValueError as error:
            raise AnsibleLookupError(f"asgi.stack.host_path: {error}") from None
