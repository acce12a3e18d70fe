# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which releases and virtualenvs a deploy removes, which release a rollback goes to, and which files a local
release leaves out (asgi.stack.django_app).

Documented in the YAML files named after each filter beside this file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.asgi.stack.plugins.plugin_utils.source_tree import archive_patterns, not_names


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


def previous_release(was_current: str, release: str, switched: Any, previous: str = "") -> str:
    """The release a failed health check goes back to once ``release`` is current.

    ``was_current`` is where the current link pointed before this run, ``switched``
    whether this run pointed it at ``release``, ``previous`` where the previous
    link pointed before this run. A switch makes the release that was current
    the previous one; without a switch the previous link stays. Empty when there
    is none: a first release has nothing to go back to.
    """
    if isinstance(switched, str):
        switched = switched.strip().lower() in ("true", "yes", "1")
    if switched and was_current and was_current != release:
        return was_current
    return previous or ""


def rollback_target(
    probe: Mapping[str, Any],
    current_link: str,
    previous_link: str,
    releases_dir: str,
    asked: str = "",
    manifest: str = "release.json",
) -> dict[str, str]:
    """Where a rollback goes from and to, and why it cannot, from what asgi.stack.host_info read.

    ``probe`` read ``current_link``, ``previous_link`` and the manifest of the
    release ``asked`` for (<releases_dir>/<asked>/<manifest>). Without ``asked``
    the rollback goes to where the previous link points. ``problem`` is empty
    when it can go there, else says why not.
    """
    paths = probe.get("paths") if isinstance(probe, Mapping) else None
    if not isinstance(paths, Mapping):
        raise AnsibleFilterError("asgi.stack.rollback_target takes the registered result of asgi.stack.host_info")
    current = paths.get(current_link, {}).get("target", "") or ""
    if asked:
        target = f"{releases_dir}/{asked}"
        exists = bool(paths.get(f"{target}/{manifest}", {}).get("exists"))
    else:
        target = paths.get(previous_link, {}).get("target", "") or ""
        exists = bool(target)
    if not exists:
        problem = "there is no such release"
    elif target == current:
        problem = "it is the current one"
    else:
        problem = ""
    return {"from": current, "to": target, "problem": problem}


def archive_exclusions(patterns: Iterable[str]) -> list[str]:
    """The archive's exclusion patterns that leave out what the release digest leaves out (plugin_utils/source_tree)."""
    try:
        return archive_patterns(patterns)
    except ValueError as error:
        raise AnsibleFilterError(f"asgi.stack.archive_exclusions: {error}") from None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "releases_to_prune": releases_to_prune,
            "venvs_to_prune": venvs_to_prune,
            "previous_release": previous_release,
            "rollback_target": rollback_target,
            "archive_exclusions": archive_exclusions,
            "not_names": not_names,
        }
