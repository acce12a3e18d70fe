"""The archive of a local release leaves out exactly what the release's digest leaves out."""

from fnmatch import fnmatch

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.asgi.stack.plugins.filter.releases import archive_exclusions
from ansible_collections.asgi.stack.plugins.plugin_utils.source_tree import archive_patterns, excluded, not_names

PATHS = [
    "manage.py",
    ".git",
    ".git/config",
    "app/__pycache__",
    "app/__pycache__/views.cpython-311.pyc",
    "app/views.py",
    "app/views.pyc",
    "node_modules/x/index.js",
    "frontend/node_modules/y.js",
    "docs/git.md",
    "a.sqlite3",
    "data/db.sqlite3",
    "my.git/file",
    "venv.py",
]
PATTERNS = [".git", "__pycache__", "*.pyc", "node_modules", "*.sqlite3", "venv"]


def left_out_by_the_digest(path: str, patterns: list[str]) -> bool:
    return any(excluded(part, patterns) for part in path.split("/"))


def left_out_by_the_archive(path: str, patterns: list[str]) -> bool:
    # community.general.archive: fnmatch on the relative path (matches_exclusion_patterns).
    return any(fnmatch(path, pattern) for pattern in archive_patterns(patterns))


@pytest.mark.parametrize("path", PATHS)
def test_the_archive_and_the_digest_agree(path: str) -> None:
    assert left_out_by_the_archive(path, PATTERNS) == left_out_by_the_digest(path, PATTERNS)


def test_the_check_sees_both_outcomes() -> None:
    outcomes = {left_out_by_the_digest(path, PATTERNS) for path in PATHS}
    assert outcomes == {True, False}


def test_a_pattern_with_a_comma_stays_one_pattern() -> None:
    # The patterns were once joined with commas and split again.
    assert archive_exclusions(["a,b"]) == ["a,b", "a,b/*", "*/a,b", "*/a,b/*"]


@pytest.mark.parametrize("pattern", ["static/build", "", None])
def test_a_path_or_nothing_is_refused(pattern) -> None:
    with pytest.raises(AnsibleFilterError, match="without '/'"):
        archive_exclusions([pattern])


def test_the_validation_refuses_what_the_archive_refuses():
    patterns = [".git", "static/build", "", "*.pyc", None]
    assert not_names(patterns) == ["static/build", "", None]
    for pattern in patterns:
        refused = True
        try:
            archive_exclusions([pattern])
            refused = False
        except AnsibleFilterError:
            pass
        assert refused == (pattern in not_names(patterns))
