#!/usr/bin/python
# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: host_info
short_description: Read in one round trip what a role manages on a host
version_added: 0.2.0
description:
  - Reads the paths, small files, Debian packages, users, groups and systemd units given, all in one round trip,
    where M(ansible.builtin.stat), M(ansible.builtin.slurp), M(ansible.builtin.package_facts),
    M(ansible.builtin.user) and C(systemctl show) would each make one or more.
  - The roles of this collection read what they manage with it first, then skip each task whose target is
    already as wanted (the P(asgi.stack.differs#filter) filter), so that a re-run on a converged host costs
    one round trip per role instead of one or two per file.
  - Changes nothing.
author: asgi.stack contributors (!UNKNOWN)
options:
  paths:
    description: Absolute paths to read. A path that does not exist is reported as such.
    type: list
    elements: path
    default: []
  checksum:
    description: Return the SHA-1 checksum of each regular file in O(paths).
    type: bool
    default: true
  contents:
    description:
      - Absolute paths of small text files (1 MiB at most) whose content to return.
      - The content goes to the controller and into the task's result. Never name a secret here.
    type: list
    elements: path
    default: []
  public_keys:
    description:
      - Absolute paths of private keys whose public key to return (C(openssl pkey -pubout)), so that the
        controller can tell which certificate a key belongs to while the key stays on the host.
    type: list
    elements: path
    default: []
  packages:
    description: Debian package names; those installed are returned with their version (C(dpkg-query)).
    type: list
    elements: str
    default: []
  users:
    description: User names; those that exist are returned with their id, primary group, home and shell.
    type: list
    elements: str
    default: []
  groups:
    description: Group names; those that exist are returned with their id.
    type: list
    elements: str
    default: []
  units:
    description: systemd unit names, whose state is returned (C(systemctl show)).
    type: list
    elements: str
    default: []
  facts:
    description:
      - Host facts to set, as M(ansible.builtin.setup) would set them, for a play that does not gather facts.
      - V(processor_nproc) is the number of processors this process may run on, as the C(hardware) subset of
        M(ansible.builtin.setup) counts them; reading it costs a fraction of gathering that subset.
      - V(distribution) and V(distribution_release) are the distribution's name (V(Debian), V(Ubuntu)) and its
        release's codename (V(trixie), V(noble)), read from C(/etc/os-release) as M(ansible.builtin.setup) reads
        them on these distributions.
    type: list
    elements: str
    choices: [distribution, distribution_release, processor_nproc]
    default: []
attributes:
  check_mode:
    support: full
    description: Reads only, so a check run reports what a real run would.
  facts:
    support: full
    description: Returns C(ansible_facts) for the names in O(facts).
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to show a difference of.
  platform:
    support: full
    platforms: posix
    description: Runs on the Debian and Ubuntu hosts the collection supports.
"""

EXAMPLES = r"""
- name: Read what the role manages
  asgi.stack.host_info:
    paths: [/etc/app, /etc/app/settings, /etc/nginx/sites-enabled/app.conf]
    contents: [/srv/app/current/release.json]
    packages: [nginx]
    users: [app]
    groups: [app]
    units: [app.service]
  register: probe

- name: Install nginx unless it is installed
  ansible.builtin.apt:
    name: nginx
  when: "'nginx' not in probe.packages"

- name: Write the settings unless they already are as wanted
  ansible.builtin.template:
    src: settings.j2
    dest: /etc/app/settings
    owner: root
    group: app
    mode: "0640"
  when: >-
    probe | asgi.stack.differs('/etc/app/settings', owner='root', group='app', mode='0640',
                               content=lookup('ansible.builtin.template', 'settings.j2'))
"""

RETURN = r"""
paths:
  description: Each path of O(paths), with what was found there.
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
public_keys:
  description:
    - Each key of O(public_keys) with its public key in PEM (SubjectPublicKeyInfo), or V(null) where there is no
      such file or it holds no key C(openssl) reads.
  returned: always
  type: dict
  sample:
    /etc/ssl/site/privkey.pem: "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYI...\n-----END PUBLIC KEY-----\n"
contents:
  description: Each file of O(contents) with its text, or V(null) where there is no such file.
  returned: always
  type: dict
  sample:
    /srv/app/current/release.json: '{"release": "2f1c9a0b7d3e"}'
packages:
  description: The packages of O(packages) that are installed, each with its version.
  returned: always
  type: dict
  sample:
    nginx: 1.22.1-9+deb12u1
users:
  description: The users of O(users) that exist.
  returned: always
  type: dict
  sample:
    app: {uid: 998, group: app, home: /srv/app, shell: /usr/sbin/nologin}
groups:
  description: The groups of O(groups) that exist.
  returned: always
  type: dict
  sample:
    app: {gid: 998}
ansible_facts:
  description: The facts named by O(facts).
  returned: when O(facts) names any
  type: dict
  sample:
    distribution: Debian
    distribution_release: trixie
    processor_nproc: 4
units:
  description:
    - Each unit of O(units) with its id, active state and unit file state.
    - The unit file state is empty for a unit that is not installed.
  returned: always
  type: dict
  sample:
    app.service: {Id: app.service, ActiveState: active, UnitFileState: enabled}
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


MAX_CONTENT = 1024 * 1024
UNIT_PROPERTIES = "Id,ActiveState,UnitFileState"


def content(path: str) -> str | None:
    """A small text file's content, or None where there is no such file."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONTENT + 1)
    except FileNotFoundError:
        return None
    if len(data) > MAX_CONTENT:
        raise ValueError(f"{path} is larger than {MAX_CONTENT} bytes")
    return data.decode("utf-8", errors="replace")


def public_key(module, path: str) -> str | None:
    """The public key of the private key in ``path`` (PEM), or None where there is no key openssl reads."""
    if not os.path.isfile(path):
        return None
    rc, out, _err = module.run_command(["openssl", "pkey", "-in", path, "-pubout"])
    return out if rc == 0 and "-----BEGIN PUBLIC KEY-----" in out else None


def packages(output: str) -> dict[str, str]:
    """Installed packages from ``dpkg-query -W -f '${Package}\\t${db:Status-Status}\\t${Version}\\n'``."""
    found = {}
    for line in output.splitlines():
        name, _dummy, rest = line.partition("\t")
        status, _dummy, version = rest.partition("\t")
        if status == "installed":
            found[name.split(":")[0]] = version
    return found


def user(name: str) -> dict | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return {
        "uid": entry.pw_uid,
        "group": _name(grp.getgrgid, entry.pw_gid),
        "home": entry.pw_dir,
        "shell": entry.pw_shell,
    }


def group(name: str) -> dict | None:
    try:
        return {"gid": grp.getgrnam(name).gr_gid}
    except KeyError:
        return None


def units(output: str) -> dict[str, dict[str, str]]:
    """``systemctl show --property=Id,... UNIT...`` output as {unit: {property: value}}.

    systemctl prints one block of ``Property=value`` lines per unit, in the
    order asked for, blocks separated by an empty line; ``Id`` names the unit.
    """
    found = {}
    for block in output.strip().split("\n\n"):
        properties = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if "Id" in properties:
            found[properties["Id"]] = properties
    return found


def processor_nproc() -> int:
    """The processors this process may run on (as setup's processor_nproc: the affinity mask, else nproc's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def os_release(path: str = "/etc/os-release") -> dict[str, str]:
    """The variables of os-release(5), unquoted; none when the file is missing."""
    found = {}
    try:
        with open(path, encoding="utf-8") as text:
            lines = text.read().splitlines()
    except OSError:
        return found
    for line in lines:
        name, sep, value = line.strip().partition("=")
        if sep and name and not name.startswith("#"):
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            found[name] = value
    return found


def distribution(path: str = "/etc/os-release") -> str:
    """The distribution's name as setup names Debian and Ubuntu (its os-release ID, capitalised)."""
    return os_release(path).get("ID", "").capitalize()


def distribution_release(path: str = "/etc/os-release") -> str:
    """The release's codename (os-release's VERSION_CODENAME), as setup reads it on Debian and Ubuntu."""
    return os_release(path).get("VERSION_CODENAME", "")


FACTS = {
    "distribution": distribution,
    "distribution_release": distribution_release,
    "processor_nproc": processor_nproc,
}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "paths": {"type": "list", "elements": "path", "default": []},
            "checksum": {"type": "bool", "default": True},
            "contents": {"type": "list", "elements": "path", "default": []},
            "public_keys": {"type": "list", "elements": "path", "default": []},
            "packages": {"type": "list", "elements": "str", "default": []},
            "users": {"type": "list", "elements": "str", "default": []},
            "groups": {"type": "list", "elements": "str", "default": []},
            "units": {"type": "list", "elements": "str", "default": []},
            "facts": {"type": "list", "elements": "str", "default": [], "choices": sorted(FACTS)},
        },
        supports_check_mode=True,
    )
    params = module.params
    for path in params["paths"] + params["contents"] + params["public_keys"]:
        if not os.path.isabs(path):
            module.fail_json(msg=f"paths must be absolute, got '{path}'")
    result = {
        "paths": {path: read(module, path, params["checksum"]) for path in params["paths"]},
        "users": {name: info for name in params["users"] if (info := user(name))},
        "groups": {name: info for name in params["groups"] if (info := group(name))},
        "packages": {},
        "units": {},
    }
    try:
        result["contents"] = {path: content(path) for path in params["contents"]}
    except (OSError, ValueError) as error:
        module.fail_json(msg=f"cannot read a file's content: {error}")
    result["public_keys"] = {path: public_key(module, path) for path in params["public_keys"]}
    if params["packages"]:
        # dpkg-query exits 1 when it knows some names not at all: those are simply not installed.
        rc, out, err = module.run_command(
            ["dpkg-query", "-W", "-f", "${Package}\t${db:Status-Status}\t${Version}\n", "--", *params["packages"]]
        )
        if rc not in (0, 1):
            module.fail_json(msg=f"dpkg-query failed: {err.strip()}", rc=rc)
        result["packages"] = packages(out)
    if params["units"]:
        rc, out, err = module.run_command(
            ["systemctl", "show", f"--property={UNIT_PROPERTIES}", "--", *params["units"]]
        )
        if rc != 0:
            module.fail_json(msg=f"systemctl show failed: {err.strip()}", rc=rc)
        result["units"] = units(out)
    if params["facts"]:
        result["ansible_facts"] = {name: FACTS[name]() for name in params["facts"]}
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
