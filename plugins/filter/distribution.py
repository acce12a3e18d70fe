# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The distribution releases a role supports, from its table of what each ships (nginx_proxy, postgresql, redis).

Documented in supported_releases.yml beside this file.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError


def supported_releases(table: Any) -> str:
    """The releases of a role's table, each as its codename and its name: ``bookworm (Debian 12), noble (...)``."""
    if not isinstance(table, dict) or not all(isinstance(entry, dict) and "name" in entry for entry in table.values()):
        raise AnsibleFilterError("supported_releases expects a table of releases, each with its name")
    return ", ".join(f"{codename} ({entry['name']})" for codename, entry in table.items())


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"supported_releases": supported_releases}
