# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compare what a role wants on a host with what one probe read there.

A role reads every path it manages with one asgi.stack.host_info call and
skips each task whose target is already as wanted. On a converged host a
re-run then costs one round trip per role instead of one or two per file
(template and copy read the file, then set its owner and mode). When
anything differs the task runs, and its module does the work as it always
does: the probe only saves the round trips of targets that are already right.

A skipped task still costs the controller a worker, so a file of tasks that
a converged host would skip every one of is skipped as one include: the
role's vars hold one variable per such file (``__<role>_<group>_changes``),
an entry for each of its tasks saying what that task would change, read by
the task (its ``when``, or its loop) and by the include (the file is included
only when an entry is true or a non-empty list). Each condition has that one
home.
The filters are documented in differs.yml and differing.yml beside this file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

TYPES = ("file", "directory", "link")


def _states(probe: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    if not isinstance(probe, Mapping) or not isinstance(probe.get("paths"), Mapping):
        raise AnsibleFilterError("asgi.stack.differs takes the registered result of asgi.stack.host_info")
    return probe["paths"]


def _mode(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    try:
        return int(str(value), 8)
    except ValueError:
        return None


def _differs(
    states: Mapping[str, Mapping[str, Any]],
    path: str,
    type: str = "file",
    owner: str | None = None,
    group: str | None = None,
    mode: Any = None,
    content: str | None = None,
    target: str | None = None,
) -> bool:
    if type not in TYPES:
        raise AnsibleFilterError(f"asgi.stack.differs: type must be one of {', '.join(TYPES)}, got '{type}'")
    if content is not None and type != "file":
        raise AnsibleFilterError("asgi.stack.differs: content is compared for files only")
    if target is not None and type != "link":
        raise AnsibleFilterError("asgi.stack.differs: target is compared for links only")
    if path not in states:
        raise AnsibleFilterError(f"asgi.stack.differs: the probe did not read '{path}'")
    found = states[path]
    if not found.get("exists") or found.get("type") != type:
        return True
    if owner is not None and found.get("owner") != owner:
        return True
    if group is not None and found.get("group") != group:
        return True
    if mode is not None:
        wanted = _mode(mode)
        if wanted is None or wanted != _mode(found.get("mode", "")):
            return True
    if content is not None and found.get("checksum") != hashlib.sha1(str(content).encode("utf-8")).hexdigest():
        return True
    return target is not None and found.get("target") != target


def differs(probe: Mapping[str, Any], path: str, **wanted: Any) -> bool:
    """True when ``path`` is missing or differs in one of the wanted attributes."""
    return _differs(_states(probe), path, **wanted)


def differing(
    items: Iterable[Any], probe: Mapping[str, Any], contents: Iterable[Any] | None = None, **defaults: Any
) -> list[Any]:
    """The items of a loop whose path differs, for a task that loops over paths.

    Each item is a path, or a dict with ``path`` and any of the attributes,
    which override ``defaults``. ``contents``, when given, holds each item's
    wanted content, in the items' order (files read by a lookup's query).
    """
    states = _states(probe)
    items = list(items)
    if contents is not None:
        contents = list(contents)
        if len(contents) != len(items):
            raise AnsibleFilterError(
                f"asgi.stack.differing: {len(contents)} contents for {len(items)} items; give one per item"
            )
    kept = []
    for index, item in enumerate(items):
        wanted = dict(defaults)
        if contents is not None:
            wanted["content"] = contents[index]
        if isinstance(item, Mapping):
            wanted.update(item)
        else:
            wanted["path"] = item
        path = wanted.pop("path")
        if _differs(states, path, **wanted):
            kept.append(item)
    return kept


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"differs": differs, "differing": differing}
