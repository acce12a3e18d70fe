# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which files of a local project make a release: the one rule for the digest and the archive.

``django_app_source_excludes`` are glob patterns matched on each file and directory name,
wherever it stands in the tree; a matching directory is left out with everything below it.
The tree_digest lookup (the release's name) applies the rule to names; the archive that
carries the release to the hosts (community.general.archive, which matches its patterns on
the whole relative path) gets the same rule from ``archive_patterns``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable


def excluded(name: str, patterns: Iterable[str]) -> bool:
    """Whether a file or directory name is left out."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def not_names(patterns: Iterable[str]) -> list:
    """The patterns that are not a file or directory name: empty, not text, or with a '/'."""
    return [pattern for pattern in patterns if not isinstance(pattern, str) or not pattern or "/" in pattern]


def archive_patterns(patterns: Iterable[str]) -> list[str]:
    """The patterns for a matcher of whole relative paths (``*`` spans ``/``) that leave out what ``excluded`` does.

    A path is left out when any of its parts matches: the part alone, first, last or in between.
    """
    patterns = list(patterns)
    refused = not_names(patterns)
    if refused:
        raise ValueError(f"a pattern is a file or directory name without '/', got {refused!r}")
    return [path for pattern in patterns for path in (pattern, f"{pattern}/*", f"*/{pattern}", f"*/{pattern}/*")]
