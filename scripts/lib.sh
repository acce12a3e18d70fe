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
    "$VENV/bin/pip" install -q -r "$req"
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

ensure_image() {
  "$ROOT/tests/images/build" "${1:-$ASGI_STACK_DISTRO}"
}

ensure_all() {
  need_root
  ensure_venv
  ensure_docker
  ensure_image "$@"
  mkdir -p "$DOWNLOADS/apt" "$DOWNLOADS/pip"
  use_this_collection
}

# The collection under test, found by Ansible as asgi.stack from this checkout.
use_this_collection() {
  local link="$CACHE/collections/ansible_collections/asgi/stack"
  mkdir -p "$(dirname "$link")"
  [ "$(readlink "$link" 2>/dev/null)" = "$ROOT" ] || ln -sfn "$ROOT" "$link"
  export ANSIBLE_COLLECTIONS_PATH="$CACHE/collections"
}
