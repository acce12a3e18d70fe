"""Unit tests for the tree_digest lookup plugin."""

import importlib.util
import os
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "lookup" / "tree_digest.py"
spec = importlib.util.spec_from_file_location("tree_digest", PLUGIN)
tree_digest_module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tree_digest_module)
tree_digest = tree_digest_module.tree_digest


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "views.py").write_text("def index(): ...\n")
    (tmp_path / "manage.py").write_text("print('hi')\n")
    return tmp_path


def test_same_tree_gives_same_digest_whatever_the_times(project: Path) -> None:
    before = tree_digest(str(project))
    os.utime(project / "manage.py", (0, 0))
    assert tree_digest(str(project)) == before


def test_changed_content_changes_digest(project: Path) -> None:
    before = tree_digest(str(project))
    (project / "app" / "views.py").write_text("def index(): return 1\n")
    assert tree_digest(str(project)) != before


def test_renamed_file_changes_digest(project: Path) -> None:
    before = tree_digest(str(project))
    (project / "app" / "views.py").rename(project / "app" / "pages.py")
    assert tree_digest(str(project)) != before


def test_executable_bit_changes_digest(project: Path) -> None:
    before = tree_digest(str(project))
    (project / "manage.py").chmod(0o755)
    assert tree_digest(str(project)) != before


def test_excluded_names_are_left_out_at_any_depth(project: Path) -> None:
    before = tree_digest(str(project), ["__pycache__", "*.pyc"])
    (project / "app" / "__pycache__").mkdir()
    (project / "app" / "__pycache__" / "views.cpython-311.pyc").write_bytes(b"\0")
    (project / "stray.pyc").write_bytes(b"\0")
    assert tree_digest(str(project), ["__pycache__", "*.pyc"]) == before
    assert tree_digest(str(project)) != before


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        tree_digest(str(tmp_path / "missing"))


def test_a_changed_link_changes_digest(project: Path) -> None:
    (project / "settings.py").write_text("DEBUG = False\n")
    (project / "dev.py").write_text("DEBUG = True\n")
    (project / "active.py").symlink_to("settings.py")
    before = tree_digest(str(project))
    (project / "active.py").unlink()
    (project / "active.py").symlink_to("dev.py")
    assert tree_digest(str(project)) != before


def test_a_link_to_a_directory_is_digested_as_a_link_and_not_followed(project: Path) -> None:
    (project / "shared").symlink_to("app", target_is_directory=True)
    before = tree_digest(str(project))
    assert before != tree_digest(str(project / "app"))
    (project / "app" / "views.py").write_text("def index(): return 2\n")
    changed = tree_digest(str(project))
    (project / "shared").unlink()
    (project / "shared").symlink_to("elsewhere", target_is_directory=True)
    assert len({before, changed, tree_digest(str(project))}) == 3


def test_a_tree_without_links_keeps_its_digest(project: Path) -> None:
    # The digest of this tree before links were digested (0.1.0): releases keep their names.
    assert tree_digest(str(project)) == "51444d7adf01d1b173b10af362806bf967cd52637979d6e80eee1cc662ae8598"
