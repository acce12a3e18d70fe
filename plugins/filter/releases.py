# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which releases and virtualenvs a deploy removes (asgi.stack.django_app).

Documented in releases_to_prune.yml and venvs_to_prune.yml beside this file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError


def releases_to_prune(releases: Iterable[Mapping[str, Any]], keep: Any, current: str, previous: str = "") -> list[str]:
    """The paths of the releases beyond the ``keep`` newest, never the current one nor the previous one.

    ``releases`` are ansible.builtin.find's files (``path`` and ``mtime``). The
    current release and the previous one (the rollback target) always stay and
    count towards ``keep``; the newest of the others fill the rest.
    """
    try:
        keep = int(keep)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"asgi.stack.releases_to_prune: keep must be a whole number, got '{keep}'") from None
    if keep < 1:
        raise AnsibleFilterError(f"asgi.stack.releases_to_prune: keep must be 1 or more, got {keep}")
    kept = {current} | ({previous} if previous else set())
    others = sorted(
        (release for release in releases if release["path"] not in kept),
        key=lambda release: release["mtime"],
        reverse=True,
    )
    room = max(keep - len(kept), 0)
    return [release["path"] for release in others[room:]]


def venvs_to_prune(venvs: Iterable[Mapping[str, Any]], links: Mapping[str, Any]) -> list[str]:
    """The virtualenvs that no release kept links to.

    ``venvs`` are ansible.builtin.find's directories in the virtualenvs'
    directory; ``links`` is asgi.stack.host_info's result for the ``venv``
    of every release kept. A release whose ``venv`` is a directory of its own
    (made before virtualenvs were shared) keeps none.
    """
    found = links.get("paths") if isinstance(links, Mapping) else None
    if not isinstance(found, Mapping):
        raise AnsibleFilterError("asgi.stack.venvs_to_prune takes the registered result of asgi.stack.host_info")
    used = {info["target"].rstrip("/") for info in found.values() if info.get("type") == "link" and info.get("target")}
    return [venv["path"] for venv in venvs if venv["path"].rstrip("/") not in used]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"releases_to_prune": releases_to_prune, "venvs_to_prune": venvs_to_prune}
