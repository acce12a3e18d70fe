# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which releases a deploy removes (asgi.stack.django_app). Documented in releases_to_prune.yml."""

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


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"releases_to_prune": releases_to_prune}
