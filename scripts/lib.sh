# shellcheck shell=bash
# Shared steps for scripts/demo and scripts/test: each one is safe to run twice
# and installs only what is missing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="${ASGI_STACK_VENV:-$ROOT/.venv}"
# Per-checkout state: logs, molecule's working files, the collection link.
CACHE="$ROOT/.cache"
# Downloads kept between runs and checkouts: apt packages and pip wheels.
DOWNLOADS="${ASGI_STACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/asgi-stack}"
# One variable selects the test host's distro for every scenario and the demo.
export ASGI_STACK_DISTRO="${ASGI_STACK_DISTRO:-debian12}"
export ASGI_STACK_CACHE="$DOWNLOADS"
export PATH="$VENV/bin:$PATH"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "This command installs system packages and drives the Docker engine: run it as root." >&2
    exit 1
  fi
}

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "Installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_venv() {
  apt_install python3 python3-venv git
  local req="$ROOT/tests/requirements.txt" stamp="$VENV/.requirements.sha256"
  if [ ! -x "$VENV/bin/python" ]; then
    log "Creating the virtualenv $VENV"
    python3 -m venv "$VENV"
  fi
  if [ "$(sha256sum "$req" | cut -d' ' -f1)" != "$(cat "$stamp" 2>/dev/null)" ]; then
    log "Installing Python packages from tests/requirements.txt"
    "$VENV/bin/pip" install -q --upgrade pip
    # --no-compile: compiling every module of the ansible package's
    # collections at install took 78 s of a fresh clone's suite, the install
    # 18 s without. The rest is compiled here (6 s): where
    # PYTHONDONTWRITEBYTECODE is set, as on our machines, Python never writes
    # what it compiles on import, and every ansible-playbook and each of its
    # workers compiled ansible-core anew (a re-run of site.yml that changes
    # nothing: 7.1 to 7.4 s without, 6.4 s with). Ansible's collection loader
    # compiles collections' plugins from their source either way.
    "$VENV/bin/pip" install -q --no-compile -r "$req"
    "$VENV/bin/python" -m compileall -q -j0 -x '/ansible_collections/' \
      "$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" >/dev/null ||
      log "Some modules did not compile: Python compiles them when they are imported"
    sha256sum "$req" | cut -d' ' -f1 >"$stamp"
  fi
}

# sslyze in a virtualenv of its own (tests/sslyze-requirements.txt says why),
# for the tests (ASGI_STACK_SSLYZE; a controller container has its own).
SSLYZE_VENV="$DOWNLOADS/sslyze-venv"
export ASGI_STACK_SSLYZE="${ASGI_STACK_SSLYZE:-$SSLYZE_VENV/bin/sslyze}"
ensure_sslyze() {
  local req="$ROOT/tests/sslyze-requirements.txt" stamp="$SSLYZE_VENV/.requirements.sha256"
  [ -x "$SSLYZE_VENV/bin/python" ] || python3 -m venv "$SSLYZE_VENV"
  if [ "$(sha256sum "$req" | cut -d' ' -f1)" != "$(cat "$stamp" 2>/dev/null)" ]; then
    log "Installing sslyze from tests/sslyze-requirements.txt"
    "$SSLYZE_VENV/bin/pip" install -q -r "$req"
    sha256sum "$req" | cut -d' ' -f1 >"$stamp"
  fi
}

ensure_docker() {
  command -v dockerd >/dev/null || apt_install docker.io
  command -v docker >/dev/null || apt_install docker.io
  if ! docker info >/dev/null 2>&1; then
    if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
      systemctl start docker
    else
      log "Starting dockerd"
      nohup dockerd >/var/log/dockerd.log 2>&1 &
    fi
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { echo "dockerd did not start: see /var/log/dockerd.log" >&2; exit 1; }
  fi
}

# The test hosts' shared network (asgi_stack_network, tests/harness/systemd_host.yml),
# made once before the runs start two at a time: Docker allows two networks of
# one name, and two scenarios that each created it at once on a fresh machine
# left two, after which no container could start on it ("network asgi-stack is
# ambiguous (2 matches found on name)"). Networks of that name with no
# container on them, from such a run, are removed first.
ensure_test_network() {
  local name ids id
  name=$("$VENV/bin/python" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["asgi_stack_network"])' \
    "$ROOT/tests/harness/systemd_host.yml")
  mapfile -t ids < <(docker network ls -q --filter "name=^$name\$")
  if [ "${#ids[@]}" -gt 1 ]; then
    for id in "${ids[@]}"; do
      [ "$(docker network inspect -f '{{len .Containers}}' "$id")" != 0 ] || docker network rm "$id" >/dev/null
    done
  fi
  docker network inspect "$name" >/dev/null 2>&1 || docker network create "$name" >/dev/null
}

# The tools the image recipe needs, installed before images are built two at
# a time (scripts/test): two recipes installing debootstrap at once meet on
# apt's lock, and one build fails on a fresh machine.
ensure_image_tools() {
  apt_install debootstrap
}

ensure_image() {
  "$ROOT/tests/images/build" "${1:-$ASGI_STACK_DISTRO}"
}

# Wheels for the test hosts' virtualenvs, fetched from the index once per suite
# run, by the hosts' own Python (so for their Python version, C library and
# environment markers) running this virtualenv's pip: the demo project's
# requirements, every server kind's packages (asgi_server's defaults) and the
# benchmark's WebSocket client (benchmark's defaults). The
# suite's hosts then install from this directory and not the index
# (tests/harness/pip-wheels.conf), so that a virtualenv costs no downloads.
# pip skips the files it already has; the index stays the source of truth.
ensure_wheels() {
  local distro="${1:-$ASGI_STACK_DISTRO}" dir pip
  dir="$DOWNLOADS/wheels/$distro"
  mkdir -p "$dir"
  cp "$ROOT/tests/harness/pip-wheels.conf" "$DOWNLOADS/wheels/pip.conf"
  pip=$("$VENV/bin/python" -c 'import os, pip; print(os.path.dirname(pip.__file__))')
  "$VENV/bin/python" - "$ROOT" >"$dir/requirements.txt" <<'PY'
import sys
from pathlib import Path

import yaml

root = Path(sys.argv[1])
print((root / "tests/demo_project/requirements.txt").read_text().strip())
print((root / "tests/clients-requirements.txt").read_text().strip())
kinds = yaml.safe_load((root / "roles/asgi_server/vars/main.yml").read_text())["asgi_server_kinds"]
for kind in kinds.values():
    print("\n".join(kind["packages"]))
benchmark = yaml.safe_load((root / "roles/benchmark/defaults/main.yml").read_text())
print("\n".join(benchmark["benchmark_python_packages"]))
PY
  docker run --rm -v "$pip:/opt/pip/pip:ro" -v "$dir:/wheels" "asgi-stack/$distro" \
    env PYTHONPATH=/opt/pip python3 -m pip download -q --disable-pip-version-check -d /wheels -r /wheels/requirements.txt
}

ensure_all() {
  need_root
  ensure_venv
  ensure_docker
  ensure_image_tools
  ensure_image "$@"
  mkdir -p "$DOWNLOADS/apt" "$DOWNLOADS/pip"
  use_this_collection
}

# The collection as Galaxy users get it, found by Ansible as asgi.stack instead
# of this checkout: built by ansible-galaxy into a tarball, checked
# (tests/harness/check_tarball.py) and installed into DEST.
use_built_collection() {
  local dest="$1" tarball
  rm -rf "$dest" && mkdir -p "$dest/build" &&
    ansible-galaxy collection build --output-path "$dest/build" "$ROOT" &&
    tarball=$(echo "$dest"/build/asgi-stack-*.tar.gz) &&
    python "$ROOT/tests/harness/check_tarball.py" "$tarball" &&
    ANSIBLE_COLLECTIONS_PATH="$dest" ansible-galaxy collection install --offline --no-deps -p "$dest" "$tarball" ||
    return 1
  export ANSIBLE_COLLECTIONS_PATH="$dest"
}

# Mitogen's strategy for every ansible-playbook started from here on
# (CONNECTION mitogen of tests/run-scenario, --connection mitogen of
# scripts/benchmark-deploys): it is in the virtualenv (tests/requirements.txt).
# ansible-core 2.19 deprecates strategy plugins from outside ansible.builtin:
# the one deprecation such runs let pass (the stock runs show that none other
# comes from the collection); when the plugins go, so does this.
use_mitogen() {
  local mitogen
  mitogen=$("$VENV/bin/python" -c 'import ansible_mitogen, os; print(os.path.dirname(ansible_mitogen.__file__))') || {
    echo "Mitogen is not in $VENV (tests/requirements.txt)" >&2
    return 2
  }
  export ANSIBLE_STRATEGY_PLUGINS="$mitogen/plugins/strategy" ANSIBLE_STRATEGY=mitogen_linear
  # Each ansible-playbook run starts Mitogen afresh on the host (a Python that
  # is then sent Mitogen's modules), within the connection's timeout, 10 s by
  # default: on a test host under the busy load, beside another run, it once
  # took longer, and the rollback playbook failed at its first task
  # ("Connection timed out", unreachable; Debian 13, hypercorn).
  export ANSIBLE_TIMEOUT=60
  export ASGI_STACK_STRATEGY_DEPRECATION="Use of strategy plugins not included in ansible.builtin are deprecated"
}

# The collection under test, found by Ansible as asgi.stack from this checkout.
use_this_collection() {
  local link="$CACHE/collections/ansible_collections/asgi/stack"
  mkdir -p "$(dirname "$link")"
  [ "$(readlink "$link" 2>/dev/null)" = "$ROOT" ] || ln -sfn "$ROOT" "$link"
  export ANSIBLE_COLLECTIONS_PATH="$CACHE/collections"
}
