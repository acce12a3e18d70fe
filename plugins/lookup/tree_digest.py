# Copyright: asgi.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lookup plugin: a digest of a directory tree's files, names and modes."""

from __future__ import annotations

DOCUMENTATION = r"""
name: tree_digest
author: asgi.stack maintainers (!UNKNOWN)
short_description: SHA-256 digest of a directory tree on the controller
description:
  - Returns one hexadecimal SHA-256 digest per directory given, computed over the relative path,
    the executable bit and the content of every regular file below it, and the relative path and
    target of every symbolic link (to a file or a directory; a link is not followed), in a fixed order.
  - The same tree gives the same digest on any controller, whatever the files' times and owners,
    so it names a release by its code.
options:
  _terms:
    description: Directories on the controller.
    required: true
    type: list
    elements: path
  excludes:
    description:
      - Glob patterns matched on each file and directory name (not on the whole path);
        a matching directory is left out with everything below it.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Name the release by its code
  ansible.builtin.debug:
    msg: "{{ lookup('asgi.stack.tree_digest', '/src/project', excludes=['.git', '__pycache__']) }}"
"""

RETURN = r"""
_raw:
  description: One SHA-256 hexadecimal digest per directory.
  type: list
  elements: str
"""

import hashlib
import os
import stat

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.asgi.stack.plugins.plugin_utils.source_tree import excluded


def tree_digest(root: str, excludes: list[str] | None = None) -> str:
    """Digest of the regular files below root, left out what excludes names."""
    patterns = list(excludes or [])
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root} is not a directory")
    digest = hashlib.sha256()
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not excluded(d, patterns))
        # A link to a directory is listed with the directories and not walked into.
        links = [d for d in dirs if os.path.islink(os.path.join(current, d))]
        for name in sorted(files + links):
            if excluded(name, patterns):
                continue
            path = os.path.join(current, name)
            mode = os.lstat(path).st_mode
            relative = os.path.relpath(path, root).replace(os.sep, "/")
            if stat.S_ISLNK(mode):
                digest.update(relative.encode("utf-8") + b"\0l" + os.readlink(path).encode("utf-8") + b"\0")
                continue
            if not stat.S_ISREG(mode):
                continue
            digest.update(relative.encode("utf-8") + b"\0")
            digest.update(b"x" if mode & stat.S_IXUSR else b"-")
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 16), b""):
                    digest.update(block)
            digest.update(b"\0")
    return digest.hexdigest()


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        excludes = self.get_option("excludes")
        try:
            return [tree_digest(term, excludes) for term in terms]
        except OSError as error:
            raise AnsibleLookupError(f"tree_digest: {error}") from error
