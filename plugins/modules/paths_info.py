#!/usr/bin/python
# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: paths_info
short_description: Read the type, owner, group, mode, link target and checksum of many paths at once
version_added: 0.2.0
description:
  - Reads every path given in one round trip, where M(ansible.builtin.stat) reads one per round trip and
    M(ansible.builtin.find) walks directories and warns about those that do not exist yet.
  - The roles of this collection read the paths they manage with it first, then skip each task whose target
    is already as wanted (the P(asgi.stack.differs#filter) filter), so that a re-run on a converged host costs
    one round trip per role instead of one or two per file.
  - Changes nothing.
author: asgi.stack contributors
options:
  paths:
    description: Absolute paths to read. A path that does not exist is reported as such.
    type: list
    elements: path
    required: true
  checksum:
    description: Return the SHA-1 checksum of each regular file.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Read the paths the role manages
  asgi.stack.paths_info:
    paths: [/etc/app, /etc/app/settings, /etc/nginx/sites-enabled/app.conf]
  register: probe

- name: Write the settings unless they already are as wanted
  ansible.builtin.template:
    src: settings.j2
    dest: /etc/app/settings
    owner: root
    group: app
    mode: "0640"
  when: >-
    probe | asgi.stack.differs('/etc/app/settings', owner='root', group='app', mode='0640',
                               content=lookup('ansible.builtin.template', 'settings.j2', convert_data=False))
"""

RETURN = r"""
paths:
  description: Each path given, with what was found there.
  returned: always
  type: dict
  sample:
    /etc/app/settings:
      exists: true
      type: file
      owner: root
      group: app
      mode: "0640"
      checksum: 2aae6c35c94fcfb415dbe95f408b9ce91ee846ed
    /etc/nginx/sites-enabled/app.conf:
      exists: true
      type: link
      owner: root
      group: root
      mode: "0777"
      target: /etc/nginx/sites-available/app.conf
    /etc/app/missing:
      exists: false
  contains:
    exists:
      description: Whether the path exists (a link counts, whether or not its target does).
      type: bool
    type:
      description: V(file), V(directory), V(link) (not followed), or V(other).
      type: str
    owner:
      description: The owner's name, or the numeric id when it has no name.
      type: str
    group:
      description: The group's name, or the numeric id when it has no name.
      type: str
    mode:
      description: The permission bits as a four-digit octal string.
      type: str
    target:
      description: Where a link points, as written in the link.
      type: str
    checksum:
      description: SHA-1 of a regular file's content, when O(checksum) is true and the file is readable.
      type: str
"""

import grp
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule


def _name(lookup, number: int) -> str:
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def read(module: AnsibleModule, path: str, checksum: bool) -> dict:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return {"exists": False}
    info = {
        "exists": True,
        "owner": _name(pwd.getpwuid, st.st_uid),
        "group": _name(grp.getgrgid, st.st_gid),
        "mode": f"{stat.S_IMODE(st.st_mode):04o}",
    }
    if stat.S_ISLNK(st.st_mode):
        info.update(type="link", target=os.readlink(path))
    elif stat.S_ISDIR(st.st_mode):
        info["type"] = "directory"
    elif stat.S_ISREG(st.st_mode):
        info["type"] = "file"
        if checksum and os.access(path, os.R_OK):
            info["checksum"] = module.digest_from_file(path, "sha1")
    else:
        info["type"] = "other"
    return info


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "paths": {"type": "list", "elements": "path", "required": True},
            "checksum": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    for path in module.params["paths"]:
        if not os.path.isabs(path):
            module.fail_json(msg=f"paths must be absolute, got '{path}'")
    paths = {path: read(module, path, module.params["checksum"]) for path in module.params["paths"]}
    module.exit_json(changed=False, paths=paths)


if __name__ == "__main__":
    main()
