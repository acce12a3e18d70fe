"""What every integration test shares: the deployed demo and real clients.

The tests run against a host converged with the demo inventory
(inventories/demo/group_vars/asgi_app.yml) and use clients inside that host:
curl, openssl and a Python WebSocket client, as a user on the host would.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import re
import shlex
import subprocess
import tempfile
import time
import uuid
import warnings
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

# The demo deployment, as the demo inventory and the roles' defaults make it.
APP = "demo"
APP_HOME = f"/srv/{APP}"
CURRENT = f"{APP_HOME}/current"
ENV_FILE = f"/etc/{APP}/env"
MANAGE = f"/usr/local/bin/{APP}-manage"
# The server under test (tests/run-scenario sets it for each run).
KIND = os.environ.get("ASGI_STACK_KIND", "gunicorn_uvicorn")
ROOT = Path(__file__).resolve().parents[2]
# The deprecation warnings a playbook run may print: the run's strategy's (tests/run-scenario) and those that are
# not ours to fix (tests/harness/deprecations_not_ours.txt, which says whose each is).
DEPRECATIONS_NOT_OURS = [
    line
    for line in (ROOT / "tests" / "harness" / "deprecations_not_ours.txt").read_text().splitlines()
    if line and not line.startswith("#")
] + ([os.environ["ASGI_STACK_STRATEGY_DEPRECATION"]] if os.environ.get("ASGI_STACK_STRATEGY_DEPRECATION") else [])
# The server kinds, in the order of the role's kinds table (vars/main.yml,
# asgi_server_kinds), with what decides each one's behaviour; and the rule
# that names their units (the collection's server_unit filter).
KIND_TABLE = yaml.safe_load((ROOT / "roles" / "asgi_server" / "vars" / "main.yml").read_text())["asgi_server_kinds"]
KINDS = tuple(KIND_TABLE)
TRAITS = KIND_TABLE.get(KIND, {})
_plugin = importlib.util.spec_from_file_location("systemd", ROOT / "plugins" / "filter" / "systemd.py")
_systemd = importlib.util.module_from_spec(_plugin)
_plugin.loader.exec_module(_systemd)


def unit_of(kind: str) -> str:
    return _systemd.server_unit(APP, kind)


# A kind with several instances (daphne) runs each as a service of its own
# with its own socket; the other kinds one service, fed by a socket unit.
def instances_of(kind: str) -> tuple[str, ...]:
    count = int(KIND_TABLE[kind].get("instances", 1))
    return tuple(str(number) for number in range(1, count + 1)) if count > 1 else ()


def services_of(kind: str) -> list[str]:
    return [f"{unit_of(kind)}@{i}.service" for i in instances_of(kind)] or [f"{unit_of(kind)}.service"]


def sockets_of(kind: str) -> list[str]:
    return [f"/run/{unit_of(kind)}/asgi-{i}.sock" for i in instances_of(kind)] or [f"/run/{unit_of(kind)}/asgi.sock"]


def unit_files_of(kind: str) -> list[str]:
    return (
        [f"{unit_of(kind)}@.service"] if instances_of(kind) else [f"{unit_of(kind)}.service", f"{unit_of(kind)}.socket"]
    )


UNIT = unit_of(KIND)
SERVICES = services_of(KIND)
SERVICE = SERVICES[0]
# Tests that one run proves for every kind: the Debian 12 host (over SSH,
# with PostgreSQL and Redis) once it serves gunicorn_uvicorn.
ON_DEBIAN_12_ONCE = pytest.mark.skipif(
    os.environ.get("ASGI_STACK_DISTRO") != "debian12" or KIND != "gunicorn_uvicorn",
    reason="runs once, on Debian 12 with gunicorn_uvicorn",
)
# Tests that one run proves for every kind on Debian 13 (HTTP/3 there): the
# Debian 13 run with gunicorn_uvicorn.
ON_DEBIAN_13_ONCE = pytest.mark.skipif(
    os.environ.get("ASGI_STACK_DISTRO") != "debian13" or KIND != "gunicorn_uvicorn",
    reason="runs once, on Debian 13 with gunicorn_uvicorn",
)
# The services and, for a socket-activated kind, the socket unit: what runs.
UNITS = SERVICES + ([f"{UNIT}.socket"] if TRAITS.get("socket_activation") else [])
SOCKETS = sockets_of(KIND)
SOCKET = SOCKETS[0]
# In the test inventory a kind that can terminate TLS itself (hypercorn) does
# (asgi_server_tls), as the app's group, which therefore reads the key.
SERVER_TLS = TRAITS.get("tls", False)
# And HTTP/3 on the same port (one of its workers reads QUIC), but where tests/run-scenario
# says the host's curl cannot test it (ASGI_STACK_SERVER_HTTP3).
SERVER_HTTP3 = SERVER_TLS and os.environ.get("ASGI_STACK_SERVER_HTTP3", "true") == "true"
# The host's TLS ports: nginx's, and the server's own where it terminates TLS.
TLS_PORTS = [443, 8443] if SERVER_TLS else [443]
KEY_GROUP = APP if SERVER_TLS else "root"
TLS_DIR = "/etc/asgi-stack/tls/site"
# Mozilla's TLS profile the scenario deploys: modern, the default, but for
# nginx_proxy's scenario (its molecule.yml).
TLS_PROFILE = os.environ.get("ASGI_STACK_TLS_PROFILE", "modern")
CA_FILE = f"{TLS_DIR}/ca.pem"
ORIGIN = "https://localhost"

MARKERS = {
    "django_app": "the app's releases, environment and manage command",
    "asgi_server": "the ASGI server's units and processes",
    "certificates": "the certificate, its key and the CA",
    "provided": "a certificate the user provides, and bad ones refused",
    "acme": "a certificate from an ACME server, and its renewal",
    "nginx_proxy": "what a client sees through nginx",
    "validation": "bad input is refused before anything changes",
    "zero_downtime": "deploys, restarts, rollbacks and failures under load drop no request",
    "repair": "a re-run puts back what was changed by hand",
    "reboot": "after a reboot the host serves the app as the deploy left it",
    "secrets": "no secret in a deploy's output at any verbosity, nor in a file anyone may read",
    "cluster": "the app on several hosts behind a balancer, with rolling deploys",
    "postgresql": "the app's database and role, and who PostgreSQL refuses",
    "redis": "the Channels layer's user, and who Redis refuses",
    "benchmark": "playbooks/benchmark.yml measures the kinds asked for and leaves the host as it found it",
    "switch": "what a switch of kind must leave: the new kind alone, serving pages, posts and WebSockets",
}
# ASGI_STACK_VERIFY=switch: only the tests marked switch, for a host switched
# to a kind it has served before (tests/run-scenario), whose whole verify
# suite ran at its first visit.
ONLY = os.environ.get("ASGI_STACK_VERIFY", "")


def pytest_configure(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not ONLY:
        return
    if ONLY not in MARKERS:
        raise pytest.UsageError(f"ASGI_STACK_VERIFY={ONLY!r}: a marker of {sorted(MARKERS)} is accepted")
    kept = [item for item in items if item.get_closest_marker(ONLY)]
    config.hook.pytest_deselected(items=[item for item in items if not item.get_closest_marker(ONLY)])
    items[:] = kept


@dataclass
class Response:
    status: int
    http_version: str
    headers: dict[str, str]
    body: str
    # Every header line as sent, (lower-case name, value), repeats included.
    header_lines: list[tuple[str, str]]
    # The status line as sent ("HTTP/1.1 200 OK"), without the spaces and line end after it.
    status_line: str


def curl(host, url: str, *options: str) -> Response:
    """One request with curl inside the host; the CA file verifies the chain."""
    marker = "\n--asgi-stack-status--\n"
    command = [
        "curl",
        "--silent",
        "--show-error",
        "--max-time",
        "15",
        "--cacert",
        CA_FILE,
        "--dump-header",
        "/dev/stderr",
        "--write-out",
        marker + "%{http_code} %{http_version}",
        *options,
        url,
    ]
    result = host.run(" ".join(shlex.quote(part) for part in command))
    assert result.rc == 0, f"curl {url} failed: {result.stderr}"
    body, _dummy, status = result.stdout.rpartition(marker)
    code, version = status.split()
    lines = []
    status_line = ""
    for line in result.stderr.splitlines():
        name, sep, value = line.partition(":")
        if line.startswith("HTTP/"):
            status_line = line.rstrip()
        elif sep:
            lines.append((name.strip().lower(), value.strip()))
    return Response(int(code), version, dict(lines), body, lines, status_line)


def tls_1_2(host, url: str, *options: str):
    """A request that offers TLS 1.2 alone (curl inside the host), with curl's ``options`` (ciphers)."""
    return host.run(f"curl -sS --cacert {CA_FILE} --tlsv1.2 --tls-max 1.2 {' '.join(options)} -o /dev/null {url}")


def curl_http3(host, url: str, tries: int = 3) -> Response:
    """One request over HTTP/3 only, sent again up to ``tries`` times when it goes unanswered.

    On Debian 13 (curl 8.14.1, nginx 1.26.3) about 2 % of HTTP/3 requests get no answer after the
    handshake, static files as much as proxied pages and with one nginx worker as with two (measured
    on a busy 2-core host: 19 of 910), where HTTP/2 answered 120 of 120; a browser then falls back to
    HTTP/2. Each unanswered try is a warning in pytest's summary, so that a rate that grows shows in
    the logs of passing runs too. The cause is most likely curl's, as curl's issue 21463 reports against
    nginx with the same curl: now and then it sends a request whose headers refer to its QPACK table
    without opening the stream that fills it. That was the cause of hypercorn's unanswered requests,
    whose own HTTP/3 now offers no table (test_hypercorn_tls.py); nginx offers one, with no directive to
    turn it off.
    """
    failures = []
    for _try in range(tries):
        try:
            return curl(host, url, "--http3-only", "--max-time", "5")
        except AssertionError as error:
            failures.append(str(error).splitlines()[0])
            warnings.warn(f"HTTP/3: {url} unanswered (try {len(failures)} of {tries}): {failures[-1]}", stacklevel=2)
    raise AssertionError(f"HTTP/3: {url} unanswered in {tries} tries: {failures}")


def curl_json(host, url: str, *options: str) -> dict:
    response = curl(host, url, *options)
    assert response.status == 200, response
    return json.loads(response.body)


def manage(host, *args: str, env: dict[str, str] | None = None):
    prefix = " ".join(f"{key}={shlex.quote(value)}" for key, value in (env or {}).items())
    return host.run(f"{prefix} {MANAGE} " + " ".join(shlex.quote(arg) for arg in args))


def current_main_pid(host) -> int:
    """The server's main process now (0 while it is down)."""
    return int(host.check_output(f"systemctl show -p MainPID --value {SERVICE}"))


def psql(
    host, sql: str, user: str, password: str, database: str, *, address: str = "127.0.0.1", sslmode: str = "prefer"
) -> tuple[int, str]:
    """One query with psql on ``host`` over TCP to ``address``, as a client on the network sends it: the exit
    code and what psql printed (columns apart by a space), errors included."""
    result = host.run(
        f"PGPASSWORD={shlex.quote(password)} PGSSLMODE={sslmode} PGCONNECT_TIMEOUT=5 psql -h {address}"
        f" -U {shlex.quote(user)} -d {shlex.quote(database)} -v ON_ERROR_STOP=1 -tA -F ' ' -c {shlex.quote(sql)}"
    )
    return result.rc, (result.stdout + result.stderr).strip()


def redis_cli(host, *args: str) -> str:
    """What redis-cli on ``host`` says to 127.0.0.1:6379, on either stream (a failed AUTH goes to standard error)."""
    result = host.run("redis-cli -h 127.0.0.1 -p 6379 " + " ".join(shlex.quote(arg) for arg in args))
    return result.stdout + result.stderr


def worker_pids(host, main_pid: int) -> set[int]:
    """The server's workers: its main process's children, but multiprocessing's resource tracker (none for a
    server of one process, where ps finds no child and fails)."""
    lines = host.run(f"ps -o pid=,args= --ppid {main_pid}").stdout.splitlines()
    return {int(line.split()[0]) for line in lines if "resource_tracker" not in line}


@pytest.fixture(scope="module")
def main_pid(host) -> int:
    pid = current_main_pid(host)
    assert pid > 0, f"{SERVICE} has no main process"
    return pid


# The clients the tests run inside the test hosts, in a virtualenv pinned by
# tests/clients-requirements.txt (which says why), made there the first time
# a test asks: with pip from the suite's wheels, so that a host needs no
# python3-venv for it.
CLIENTS_REQUIREMENTS = ROOT / "tests" / "clients-requirements.txt"
CLIENTS_VENV = "/opt/asgi-stack-test-clients"
# The suite's wheels in every test host (tests/harness/start_host.yml); scripts/demo copies them into the demo's.
CLIENTS_WHEELS = "/var/cache/asgi-stack-wheels"
_clients_made: set[str] = set()


def client_python(host) -> str:
    """The Python of the test clients' virtualenv in ``host``, made (or remade) when its pins changed."""
    if host.backend.hostname not in _clients_made:
        wanted = CLIENTS_REQUIREMENTS.read_text()
        recorded = f"{CLIENTS_VENV}/requirements.txt"
        made = host.run(
            f"cat > /tmp/clients-requirements.txt <<'REQ'\n{wanted}REQ\n"
            f"cmp -s /tmp/clients-requirements.txt {recorded} && exit 0\n"
            f"python3 -m venv --clear --without-pip {CLIENTS_VENV} && "
            f"{CLIENTS_VENV}/bin/python $(ls {CLIENTS_WHEELS}/pip-*.whl | tail -n 1)/pip install -q "
            f"--disable-pip-version-check --no-index --find-links {CLIENTS_WHEELS} -r /tmp/clients-requirements.txt && "
            f"cp /tmp/clients-requirements.txt {recorded}"
        )
        assert made.rc == 0, made.stdout + made.stderr
        _clients_made.add(host.backend.hostname)
    return f"{CLIENTS_VENV}/bin/python"


def run_client(host, name: str, script: str, *arguments):
    """Runs a client script (Python, with the test clients' virtualenv: client_python) on ``host`` as
    /tmp/NAME.py with ``arguments``; its result (rc, stdout, stderr)."""
    host.run(f"cat > /tmp/{name}.py <<'PY'\n{script}\nPY")
    return host.run(f"{client_python(host)} /tmp/{name}.py {' '.join(str(argument) for argument in arguments)}")


LOADGEN = Path(__file__).with_name("loadgen.py")


# The busy load is a sink: loadgen.py drives the host's server to its capacity, so that the host takes every CPU
# cycle it can get for as long as the step lasts. The suite runs two runs at once on one machine's CPUs; for a
# busy step the host's container gets a small weight against the other test hosts' 1024 (docker's --cpu-shares:
# a share of CPUs that others want too, not a limit), so that it takes the cycles the other run leaves rather than
# half of those that run needs. Inside the host nothing changes: the deploy under test shares its CPUs with the
# load as before. ASGI_STACK_BUSY_CPU_SHARES sets the weight; empty leaves the host's alone. With 64, the suite's
# Debian 12 run took 1902 s against 2655 (s79 against s78), but where two busy steps ran at once, or one beside the
# bad-input run's 61 hosts, a busy host starved: a WebSocket handshake timed out after 10 s. So the weight is 128,
# and busy steps take turns (BUSY_LOCK, a file lock every run of the machine shares).
BUSY_CPU_SHARES = os.environ.get("ASGI_STACK_BUSY_CPU_SHARES", "128")
BUSY_LOCK = ROOT / ".cache" / "busy-step.lock"


@contextmanager
def one_at_a_time(path: Path):
    """Holds an exclusive lock on ``path`` while the block runs: runs that share it wait for each other."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def cpu_shares(host, shares: str):
    """The container of ``host`` (a test host reached with docker exec) weighs ``shares`` while the block runs, then
    docker's default, 1024, the weight every test host starts with (tests/harness/start_host.yml sets none)."""
    name = host.backend.name
    subprocess.run(["docker", "update", "--cpu-shares", shares, name], capture_output=True, check=True)
    try:
        yield
    finally:
        subprocess.run(["docker", "update", "--cpu-shares", "1024", name], capture_output=True, check=True)


@contextmanager
def load(host, profile: str, site: str, ca_file: str):
    """loadgen.py (``profile``) in ``host`` against ``site`` while the block runs; yields its figures, filled in after.

    Load goes only to the test hosts: ``site`` is the host itself or another host of the scenario. A busy step
    waits for the machine's other busy steps and runs at BUSY_CPU_SHARES.
    """
    with ExitStack() as busy:
        waited = 0.0
        if profile == "busy":
            began = time.monotonic()
            busy.enter_context(one_at_a_time(BUSY_LOCK))
            waited = round(time.monotonic() - began, 1)
            if BUSY_CPU_SHARES:
                busy.enter_context(cpu_shares(host, BUSY_CPU_SHARES))
        totals: dict = {}
        host.run(f"cat > /tmp/loadgen.py <<'PY'\n{LOADGEN.read_text()}\nPY")
        host.run("rm -f /tmp/load.stop /tmp/load.json")
        arguments = f"{profile} {site} {ca_file} /tmp/load.stop /tmp/load.json"
        host.run(f"nohup {client_python(host)} /tmp/loadgen.py {arguments} >/tmp/load.log 2>&1 &")
        # The WebSockets open and the streams start before the step.
        time.sleep(2)
        try:
            yield totals
        finally:
            time.sleep(1)
            host.run("touch /tmp/load.stop")
            deadline = time.monotonic() + 90
            while not host.file("/tmp/load.json").exists and time.monotonic() < deadline:
                time.sleep(0.5)
            assert host.file("/tmp/load.json").exists, host.file("/tmp/load.log").content_string
            totals.update(json.loads(host.file("/tmp/load.json").content_string))
            # How long the step waited for another run's busy step (a suite's runs take turns).
            totals["waited_for_turn_s"] = waited


# nginx's site error log, and what it says when the server took a request
# (read it, or was sent it) and closed the connection without an answer.
# nginx sends a GET again and the client sees nothing; a POST gets a 502. A
# refused or missing socket is not one: the request never reached a server.
ERROR_LOG = f"/var/log/nginx/{APP}.error.log"
UNANSWERED = re.compile(
    r"(prematurely closed connection|\(104: Connection reset by peer\)|\(32: Broken pipe\))"
    r" while (reading response header from|sending request to) upstream"
)


@contextmanager
def under_load(host, step: str, profile: str, site: str, ca_file: str):
    """Runs the load generator (``profile``, against ``site``) while the block runs; yields its figures, filled in
    and reported afterwards.

    The figures include ``unanswered``: the requests that nginx's error log says a server closed unanswered.
    """
    totals: dict = {}
    start = int(host.run(f"stat -c %s {ERROR_LOG} 2>/dev/null || echo 0").stdout.strip() or 0)
    try:
        with load(host, profile, site, ca_file) as totals:
            yield totals
    finally:
        if totals:
            logged = host.run(f"tail -c +{start + 1} {ERROR_LOG} 2>/dev/null").stdout.splitlines()
            unanswered = [line for line in logged if UNANSWERED.search(line)]
            totals.update(unanswered=len(unanswered), unanswered_samples=unanswered[:3])
            report(step, totals, profile)


def report(step: str, totals: dict, profile: str) -> None:
    """Prints a step's figures under load (``profile``) and appends them to the suite's file of load figures."""
    sockets = totals.get("websockets")
    print(
        f"\n[{KIND}] {step} ({profile}): {totals['requests']} requests, {totals['failures']} failed,"
        f" {totals['requests_per_s']}/s, latency p50 {totals['latency_p50_s']} s, p99 {totals['latency_p99_s']} s,"
        f" max {totals['latency_max_s']} s; {totals.get('uploads', 0)} uploads;"
        f" {totals.get('streams', 0)} streams, {totals.get('streams_failed', 0)} cut short;"
        + (
            f" WebSockets: {sockets['opened']} opened, {sockets['open_at_end']} open at the end,"
            f" {sockets['closed_with_frame']} closed with a frame {sockets['close_codes']}, {sockets['resets']} reset,"
            f" worst reconnect {sockets['worst_reconnect_s']} s ({sockets['reconnects_over_2_s']} over 2 s),"
            f" after a recycled worker's close {sockets['after_recycling']['worst_reconnect_s']} s"
            f" ({sockets['after_recycling']['reconnects_over_2_s']} over 2 s);"
            if sockets
            else ""
        )
        + f" {totals['retried_on_closed_keepalive']} sent again after nginx closed an idle connection;"
        f" {totals['unanswered']} closed unanswered by the server (nginx's error log)"
        f" {totals['failure_samples'] or ''}"
        + (
            f"; waited {totals['waited_for_turn_s']} s for another run's busy step"
            if totals.get("waited_for_turn_s")
            else ""
        )
    )
    figures = os.environ.get("ASGI_STACK_LOAD_FIGURES")
    if figures:
        record = {"distro": os.environ.get("ASGI_STACK_DISTRO"), "kind": KIND, "step": step, "profile": profile}
        with open(figures, "a") as out:
            out.write(json.dumps({**record, **totals}) + "\n")


def assert_nothing_dropped(totals: dict, profile: str, stopped: tuple[str, ...] = ()) -> None:
    """Every request answered 2xx, every stream whole, every WebSocket closed properly if at all.

    ``stopped``: the kinds whose server stopped during the step. A WebSocket reset where one of them may lose
    its close frame (the kinds table's websocket_stop_lost, granian's) is an expected failure, reported once
    every other check has passed: call this last in a test.
    """
    assert totals["requests"] >= 50, totals
    # A WebSocket closed without a close frame is one of the failures too (loadgen.py): judged below.
    resets = totals.get("websockets", {}).get("resets", 0)
    assert totals["failures"] == resets, totals
    if profile == "busy":
        # The busy mix was met: each client posts every 25th request, staggered so that some post first
        # (loadgen.py's posts_upload: a short step on a slow host meets uploads too).
        assert totals.get("uploads", 0) > 0 and totals.get("streams", 0) > 0, f"no upload or no stream: {totals}"
        assert totals["streams_failed"] == 0, totals
        # A WebSocket that closes gets a close frame and connects again (loadgen.py fails the step if no new
        # connection answers within 60 s). How long that takes is a time: printed (worst_reconnect_s, and over
        # 2 s) and read by scripts/benchmark-deploys, not asserted, as a slower machine or the suite's other
        # run on the same CPUs would fail it.
        sockets = totals["websockets"]
        assert sockets["opened"] == 8, totals
        assert sockets["open_at_end"] == 8, f"a WebSocket did not answer at the end: {totals}"
        xfail_where_close_frames_are_lost(resets, stopped)
    assert resets == 0, totals


def xfail_where_close_frames_are_lost(lost: int, stopped: tuple[str, ...]) -> None:
    """An expected failure when ``lost`` WebSocket close frames were lost (the connection reset instead) where one
    of the ``stopped`` kinds stopped whose loss the kinds table records (websocket_stop_lost, granian's); else
    nothing: the caller then asserts that none was lost. Call it once every other check has passed.
    """
    losing = [kind for kind in stopped if KIND_TABLE[kind].get("websocket_stop_lost")]
    if lost and losing:
        why = KIND_TABLE[losing[0]]["websocket_stop_lost"]
        pytest.xfail(f"{lost} WebSocket(s) reset without a close frame; {losing[0]} loses it {why}")


# Clients join the demo's chat room (ws/room/<name>/) one after another until
# there are CLIENTS and they are held by at least PROCESSES server processes
# on at least HOSTS app hosts (each client is told its process and host when
# it joins; at most 40 clients), then one sends to the room and every one
# must hear it.
ROOM_CLIENTS = """
import asyncio, json, ssl, sys
import websockets

URL, CA = sys.argv[1], sys.argv[2]
CLIENTS, PROCESSES, HOSTS = (int(arg) for arg in sys.argv[3:6])
QUIET_S = float(sys.argv[6])

async def main():
    context = ssl.create_default_context(cafile=CA)
    sockets, holders, first_joined = [], set(), None
    loop = asyncio.get_running_loop()
    while len(sockets) < 40 and (
        len(sockets) < CLIENTS or len(holders) < PROCESSES or len({h for h, _ in holders}) < HOSTS
    ):
        ws = await websockets.connect(URL, ssl=context, origin="https://localhost")
        sockets.append(ws)
        joined = json.loads(await asyncio.wait_for(ws.recv(), 10))
        holders.add((joined["host"], joined["pid"]))
        first_joined = first_joined or loop.time()
    # The room stays quiet until QUIET_S after the first client joined.
    await asyncio.sleep(max(0, QUIET_S - (loop.time() - first_joined)))
    await sockets[0].send("hello, room")

    async def heard(ws):
        try:
            return json.loads(await asyncio.wait_for(ws.recv(), 5)).get("message") == "hello, room"
        except (asyncio.TimeoutError, websockets.ConnectionClosed):
            return False

    results = await asyncio.gather(*(heard(ws) for ws in sockets))
    hosts = {}
    for host, _pid in holders:
        hosts[host] = hosts.get(host, 0) + 1
    print(json.dumps({"clients": len(sockets), "processes": len(holders), "hosts": hosts, "heard": sum(results)}))
    for ws in sockets:
        await ws.close()

asyncio.run(main())
"""


def room_broadcast(
    host, url: str, ca_file: str, clients: int, processes: int = 1, hosts: int = 1, quiet_s: float = 0
) -> dict:
    """A message to a new room of the demo's chat, from a client inside ``host``, once every client has
    joined and the room has stayed quiet for ``quiet_s`` seconds: who held the clients, who heard."""
    room = uuid.uuid4().hex[:12]
    result = run_client(
        host, "room_clients", ROOM_CLIENTS, f"{url}ws/room/{room}/", ca_file, clients, processes, hosts, quiet_s
    )
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


def molecule_host() -> tuple[str, dict]:
    """The scenario's host and how Ansible reaches it, from molecule's inventory."""
    inventory = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"
    for path in sorted(inventory.glob("*.yml")):
        data = yaml.safe_load(path.read_text()) or {}
        hosts = (data.get("all") or {}).get("hosts") or {}
        for name, variables in hosts.items():
            return name, {key: value for key, value in (variables or {}).items() if key.startswith("ansible_")}
    raise AssertionError(f"no host in molecule's inventory {inventory}")


# What only a run at -vvvv prints, whatever the connection: ansible-playbook's
# arguments, shown by the default callback (connection plugins print their
# own lines, such as ESTABLISH, but Mitogen's strategy prints none).
AT_VVVV = "Positional arguments: "


def where(output: str, value: str) -> str:
    """The output before the secret value's first showing (as is, or escaped as JSON or Python write it),
    the value itself masked; '' if it does not show."""
    for form in (value, json.dumps(value)[1:-1], repr(value)[1:-1]):
        at = output.find(form)
        if at >= 0:
            return output[max(0, at - 300) : at].replace(form, "<secret>") + "<secret>"
    return ""


def exposure(host, unit: str) -> float:
    """``systemd-analyze security``'s exposure score of a unit (0 safest, 10 least safe), printed."""
    verdict = host.check_output(f"systemd-analyze security --no-pager {unit} | tail -n 1")
    score = float(re.search(r": (\d+\.\d+) ", verdict).group(1))
    print(f"systemd-analyze security {unit}: {score}")
    return score


def sslyze(host, port: int, profile: str) -> subprocess.CompletedProcess:
    """sslyze, from the controller, checks the host's TLS port against Mozilla's guideline 6.0 for ``profile``.

    The profile is tests/harness/mozilla-tls-6.0/<profile>.json (its README says why not sslyze's own);
    the chain is checked against the host's CA file, under the name localhost. The scan goes to the
    test container alone, at its address on the docker network.
    """
    name, _connection = molecule_host()
    address = subprocess.run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as ca_file:
        ca_file.write(host.file(CA_FILE).content_string)
        ca_file.flush()
        result = subprocess.run(
            [
                os.environ.get("ASGI_STACK_SSLYZE", "sslyze"),
                f"--custom_tls_config={ROOT / 'tests' / 'harness' / 'mozilla-tls-6.0' / f'{profile}.json'}",
                f"--certinfo_ca_file={ca_file.name}",
                f"localhost:{port}{{{address}}}",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
    print(result.stdout[-3000:])
    return result


def run_site(extra_vars: dict) -> subprocess.CompletedProcess:
    """playbooks/site.yml against the scenario's host, as a user runs it."""
    return run_playbook("site.yml", extra_vars)


def run_playbook(playbook: str, extra_vars: dict, *options: str) -> subprocess.CompletedProcess:
    """One of playbooks/ against the scenario's host, as a user runs it (with ansible-playbook's ``options``).

    The extra variables go in a file (-e @FILE): ansible-playbook prints its command line's own at -vvvv.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".json") as variables:
        json.dump(extra_vars, variables)
        variables.flush()
        return ansible_playbook(playbook, "-e", f"@{variables.name}", *options)


def run_with_inventory(
    playbook: str, groups: dict, limit: str, directory: Path, *options: str, timeout: int = 900, **environment: str
) -> subprocess.CompletedProcess:
    """One of playbooks/ with molecule's inventory and one of the test's own (``groups``, written into
    ``directory``), limited to ``limit``: hosts of the test's own, such as a host per bad-input case, each the
    scenario's container under another name."""
    inventory = directory / "inventory.yml"
    inventory.write_text(yaml.safe_dump(groups))
    return ansible_playbook(playbook, "-i", str(inventory), "--limit", limit, *options, timeout=timeout, **environment)


def converge_again(**variables) -> subprocess.CompletedProcess:
    """The running scenario's converge.yml again, with ``variables`` as extra variables; its result."""
    converge = ROOT / "molecule" / os.environ["MOLECULE_SCENARIO_NAME"] / "converge.yml"
    return ansible_playbook(str(converge), "-e", json.dumps(variables))


def ansible_playbook(
    playbook: str, *options: str, timeout: int = 900, **environment: str
) -> subprocess.CompletedProcess:
    """ansible-playbook with molecule's inventory and ``options`` (and more ``environment``); its result, once
    it is known that Ansible announced no deprecation (tests/run-scenario checks the molecule steps the same way)."""
    inventory = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"
    result = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), *options, str(ROOT / "playbooks" / playbook)],
        capture_output=True,
        text=True,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", **environment},
        timeout=timeout,
        check=False,
    )
    # But the one of the run's own strategy (tests/run-scenario: ASGI_STACK_STRATEGY_DEPRECATION) and those
    # that are not ours (tests/harness/deprecations_not_ours.txt).
    warnings = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if "[DEPRECATION WARNING]" in line and not any(known in line for known in DEPRECATIONS_NOT_OURS)
    ]
    assert not warnings, f"a deprecation warning: {warnings[0][:500]}"
    return result


# A host's line in the play recap, and its unreachable count.
RECAP = re.compile(r"^(case-\S+)\s*:.*unreachable=(\d+)", re.M)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
FATAL = re.compile(r"^(?:fatal|failed): \[(case-[^\]]+)\]")


def failures_of(output: str) -> dict[str, str]:
    """Each host's failure as the default callback prints it: the error (even of a no_log task) and the result."""
    failures: dict[str, str] = {}
    block: list[str] = []
    for line in ANSI.sub("", output).splitlines():
        if line.startswith(("TASK [", "ok: ", "skipping: ", "changed: ", "included: ")):
            block = []
        block.append(line)
        if found := FATAL.match(line):
            failures[found[1]] = failures.get(found[1], "") + "\n".join(block)
            block = []
    return failures
