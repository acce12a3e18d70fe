"""The ASGI server as asgi_server runs it: units, socket, processes, restarts."""

import contextlib
import importlib.util
import json
import time

import pytest
import yaml
from conftest import (
    APP,
    ENV_FILE,
    KIND,
    KINDS,
    ROOT,
    SERVICE,
    SERVICES,
    SOCKET,
    SOCKETS,
    TRAITS,
    UNIT,
    UNITS,
    current_main_pid,
    exposure,
    run_client,
    services_of,
    unit_files_of,
    unit_of,
    worker_pids,
    xfail_where_close_frames_are_lost,
)

pytestmark = pytest.mark.asgi_server

from test_django_app import TRICKY_SECRET  # noqa: E402

# The role's defaults, which the scenarios keep where a test below relies on them.
ROLE_DEFAULTS = yaml.safe_load((ROOT / "roles" / "asgi_server" / "defaults" / "main.yml").read_text())
# The stopping workers' wait for each other's requests (its MARGIN), as the servers' stops use it.
_DRAIN_SPEC = importlib.util.spec_from_file_location(
    "asgi_stack_drain", ROOT / "roles" / "asgi_server" / "files" / "asgi_stack_drain.py"
)
DRAIN = importlib.util.module_from_spec(_DRAIN_SPEC)
_DRAIN_SPEC.loader.exec_module(DRAIN)


def through_socket(host, path: str, *headers: str, max_time: int = 10) -> dict:
    options = " ".join(f"-H '{header}'" for header in headers)
    result = host.run(f"curl -sS --max-time {max_time} --unix-socket {SOCKET} {options} http://localhost{path}")
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.switch
def test_socket_and_service_are_enabled_and_running(host):
    # A kind without socket activation (daphne) binds its sockets itself.
    for unit in UNITS:
        service = host.service(unit)
        assert service.is_enabled, unit
        assert service.is_running, unit


def test_socket_only_admits_the_app_and_nginx(host):
    assert all(host.file(socket).is_socket for socket in SOCKETS)
    directory = host.file(SOCKET.rsplit("/", 1)[0])
    assert (directory.user, directory.group, directory.mode) == (APP, "www-data", 0o710)
    request = f"curl -sS -o /dev/null -w '%{{http_code}}' --unix-socket {SOCKET} http://localhost/health/"
    assert host.run(f"runuser -u www-data -- {request}").stdout == "200"
    denied = host.run(f"runuser -u nobody -- {request}")
    assert (denied.rc, denied.stdout) == (7, "000"), "curl must fail to connect"


def server_processes(host, main_pid: int) -> list:
    """The main process and its workers, without multiprocessing's helpers."""
    return [host.process.get(pid=pid) for pid in [*worker_pids(host, main_pid), main_pid]]


@pytest.mark.switch
def test_every_server_process_runs_as_the_app_user(host, main_pid):
    processes = server_processes(host, main_pid)
    assert processes
    assert {process.user for process in processes} == {APP}
    if "python_helper" in TRAITS:
        # The server runs the kind's helper (its worker class, its module, or
        # the application it wraps).
        assert TRAITS["python_helper"] in host.process.get(pid=main_pid).args


def test_workers_default_per_kind(host, main_pid):
    workers = len(server_processes(host, main_pid)) - 1
    if not TRAITS["workers"]:
        assert workers == 0, f"{KIND} runs one process"
    else:
        # Two per CPU and one, shared out among the kind's instances (granian's two), rounded up.
        assert workers == -(-(2 * int(host.check_output("nproc")) + 1) // TRAITS.get("instances", 1))


# Seconds the test below keeps the workers from running: longer than uvicorn's
# own health-check timeout (5 s) and the half second between its checks,
# shorter than the role's default asgi_server_timeout.
SILENT_S = 6
ASGI_SERVER_TIMEOUT_S = ROLE_DEFAULTS["asgi_server_timeout"]


@pytest.mark.skipif(not TRAITS["workers"], reason=f"{KIND} runs one process")
def test_a_worker_silent_for_less_than_the_timeout_is_kept(host, main_pid):
    """Workers that cannot answer for a few seconds (a busy host, an app that loads slowly) are not replaced
    before ``asgi_server_timeout``.

    uvicorn's process manager replaced one after its own 5 s (templates/exec/uvicorn.j2 says what that did to a
    start on a starved host).
    """
    assert SILENT_S < ASGI_SERVER_TIMEOUT_S
    workers = sorted(process.pid for process in server_processes(host, main_pid) if process.pid != main_pid)
    pids = " ".join(str(pid) for pid in workers)
    assert host.run(f"kill -STOP {pids} && sleep {SILENT_S}; kill -CONT {pids}").rc == 0
    assert through_socket(host, "/health/")["status"] == "ok"
    after = sorted(process.pid for process in server_processes(host, main_pid) if process.pid != main_pid)
    assert after == workers, "a silent worker was replaced"


@pytest.mark.switch
def test_only_the_chosen_kind_is_installed(host):
    """Exactly the chosen kind's units exist; a kind switched away from left nothing behind."""
    units = host.check_output("ls /etc/systemd/system").split()
    ours = sorted(unit for unit in units if unit.startswith(f"{APP}-"))
    assert ours == sorted(unit_files_of(KIND))
    # Every other kind's socket directory, boot-time entry and services, read in two commands (about 20 reads,
    # each a round trip to the host, took 1.3 to 5.0 s of a visit's checks in a suite run; 0.7 s on a kept host).
    others = sorted(set(KINDS) - {KIND})
    paths = [path for other in others for path in (f"/run/{unit_of(other)}", f"/etc/tmpfiles.d/{unit_of(other)}.conf")]
    services = [service for other in others for service in services_of(other)]
    found = host.run(f"for path in {' '.join(paths)}; do [ ! -e $path ] || echo $path; done")
    assert found.rc == 0 and found.stdout.split() == [], found
    states = host.run(f"systemctl is-active {' '.join(services)}").stdout.split()
    assert len(states) == len(services), states
    assert [service for service, state in zip(services, states, strict=True) if state == "active"] == []
    # Each kind's helpers go with it: the reload and stop helper of the kinds
    # that reload, the Python module of a kind that has one.
    uses_signal = bool(TRAITS["reload_signal"]) or TRAITS.get("stop_helper", False)
    assert host.file("/usr/local/sbin/asgi-stack-server-signal").exists == uses_signal
    modules = [TRAITS["python_helper"], *TRAITS.get("python_modules", [])] if "python_helper" in TRAITS else []
    helpers = sorted(f"{module}.py" for module in modules)
    lib = host.file("/usr/local/lib/asgi-stack/python")
    assert (sorted(lib.listdir()) if lib.exists else []) == helpers


@pytest.mark.switch
def test_health_answers_over_the_socket(host):
    health = through_socket(host, "/health/")
    assert health["status"] == "ok"
    assert health["migrations_applied"] is True


@pytest.mark.switch
def test_server_trusts_proxy_headers_from_its_socket(host):
    seen = through_socket(
        host, "/whoami/", "X-Forwarded-Proto: https", "X-Forwarded-For: 203.0.113.7", "Host: localhost"
    )
    assert seen["scheme"] == "https"
    assert seen["client"] == "203.0.113.7"


def test_environment_file_reaches_the_server_unchanged(host, main_pid):
    environ = host.check_output(f"tr '\\0' '\\n' < /proc/{main_pid}/environ")
    assert f"DEMO_TRICKY_SECRET={TRICKY_SECRET}" in environ.splitlines()
    assert host.file(ENV_FILE).exists


def test_service_is_sandboxed(host):
    show = host.check_output(f"systemctl show {SERVICE} -p ProtectSystem -p NoNewPrivileges -p PrivateTmp -p User")
    assert "ProtectSystem=strict" in show
    assert "NoNewPrivileges=yes" in show
    assert "PrivateTmp=yes" in show
    assert f"User={APP}" in show


def test_systemd_analyze_security_scores_each_service_1_5_or_lower(host):
    """systemd-analyze's exposure score (0 safest, 10 least safe), printed for each service of the kind."""
    for service in SERVICES:
        assert exposure(host, service) <= 1.5, service


@pytest.mark.switch
def test_server_logs_no_error_since_it_started(host):
    """The sandbox denies the server nothing it tries to do (gunicorn 25 made a control socket in the home)."""
    since = host.check_output(f"systemctl show -p ActiveEnterTimestamp --value {SERVICE}")
    log = host.check_output(f"journalctl -u {SERVICE} --since '{since}' --no-pager -o cat")
    errors = [line for line in log.splitlines() if "ERROR" in line or "Read-only file system" in line]
    assert not errors, errors


STOPPING_CLIENT = """
import json, socket, subprocess, sys, time

# Imported before the timed part, so that the handshake leaves 0.6 s into the stop, within the stopping worker's
# wait for a request on its way (1 s), however long the import takes on a loaded machine.
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus
from websockets.sync.client import unix_connect

request = b"GET /health/ HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n"
client = socket.socket(socket.AF_UNIX)
client.settimeout(15)
client.connect(sys.argv[1])
client.sendall(request)
first = b""
while b"\\r\\n\\r\\n" not in first:
    first += client.recv(65536)
head, _, body = first.partition(b"\\r\\n\\r\\n")
length = int(next(line.split(b":")[1] for line in head.lower().split(b"\\r\\n") if line.startswith(b"content-length")))
while len(body) < length:
    body += client.recv(65536)
assert head.startswith(b"HTTP/1.1 200"), head
# The connection is now kept alive, idle, by a worker that is told to stop.
started = time.monotonic()
restarting = subprocess.Popen(["systemctl", "restart", sys.argv[2]])
time.sleep(0.6)
# What the client sees, as JSON: when the request or handshake left (seconds since the restart began), and
# "unanswered" if the connection was closed under it.
seen = {"sent_after_s": round(time.monotonic() - started, 2)}
if sys.argv[3] == "request":
    answer = b""
    try:
        client.sendall(request)
        while chunk := client.recv(65536):
            answer += chunk
    except OSError as error:
        seen["unanswered"] = repr(error)
    if answer:
        seen["head"] = answer.split(b"\\r\\n\\r\\n")[0].decode()
    elif "unanswered" not in seen:
        seen["unanswered"] = "closed with no answer"
    restarting.wait()
    print(json.dumps(seen))
    sys.exit()
# A WebSocket handshake instead.
try:
    ws = unix_connect(
        uri="ws://localhost/ws/echo/", sock=client, origin="http://localhost", open_timeout=15,
        additional_headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.1"},
    )
except InvalidStatus as refused:
    seen["refused"] = refused.response.status_code
except (ConnectionClosed, InvalidMessage, OSError) as error:
    # InvalidMessage: the connection closed before an answer's status line (a late client's lot too).
    seen["unanswered"] = repr(error.__cause__ or error)
else:
    try:
        ws.send("on its way")
        seen["echo"] = ws.recv(timeout=60)
        seen["closed"] = "not closed: " + repr(ws.recv(timeout=60))
    except ConnectionClosed as closed:
        seen["closed"] = closed.rcvd.code if closed.rcvd else 0
    seen["closed_after_s"] = round(time.monotonic() - started, 1)
restarting.wait()
seen["restart_s"] = round(time.monotonic() - started, 1)
with unix_connect(sys.argv[1], "ws://localhost/ws/echo/", origin="http://localhost") as ws:
    ws.send("after")
    seen["echo_after"] = ws.recv(timeout=30)
print(json.dumps(seen))
"""


# Attempts of the test below to meet a request arriving once the stop has reached the worker.
ATTEMPTS = 3


@pytest.mark.skipif(not TRAITS["socket_activation"], reason="a socket-activated kind's graceful stop")
def test_a_stopping_server_answers_a_request_already_on_its_way(host):
    """A request sent on a kept-alive connection just after the server began to stop is answered, then closed.

    uvicorn alone would close the idle connection at once, and nginx would
    answer a POST sent on it with 502 (files/asgi_stack_uvicorn.py); so
    would hypercorn (files/asgi_stack_proxy_fix.py; its own TLS port:
    test_hypercorn_tls.py).

    On a loaded machine the stop can reach the worker later than the
    request, which it then answers as if not stopping, without "Connection:
    close" (hypercorn: by hand on Debian 13 beside 40 CPU-bound processes,
    5 of 6 runs; in a suite run on Debian 12): that attempt did not meet the
    moment under test, and is made again, up to ATTEMPTS times; if none
    meets it, the test says so and is skipped. So is an attempt whose
    client was held up past the second in which a stopping worker reads
    (met_the_stop). A request left unanswered sooner fails at once.
    """
    for attempt in range(1, ATTEMPTS + 1):
        host.run(f"systemctl reset-failed {SERVICE_NAMES}")
        result = run_client(host, "stopping_client", STOPPING_CLIENT, SOCKET, SERVICE, "request")
        # Back once every worker serves (the unit is active), which takes longer than the first worker does.
        deadline = time.monotonic() + 60
        while (
            host.run(f"systemctl is-active --quiet {SERVICE}").rc != 0
            or host.run(f"curl -sf -o /dev/null --unix-socket {SOCKET} http://localhost/health/").rc != 0
        ):
            assert time.monotonic() < deadline, "the server did not come back"
            time.sleep(0.5)
        assert result.rc == 0, result.stdout + result.stderr
        seen = json.loads(result.stdout)
        if not met_the_stop(seen):
            print(f"[{KIND}] attempt {attempt}: the client was late: {seen}")
            continue
        head = seen["head"].lower()
        assert head.startswith("http/1.1 200"), seen
        if "connection: close" in head:
            return
        print(f"[{KIND}] attempt {attempt}: the request was answered before the stop reached the worker")
    pytest.skip(f"in none of {ATTEMPTS} attempts did the request reach the worker within its stop (a loaded machine)")


# Seconds for which a stopping worker reads an idle connection on, waiting for a request on its way
# (files/asgi_stack_uvicorn.py, GRACE; files/asgi_stack_proxy_fix.py, ON_ITS_WAY), from when its stop reaches it:
# never before the restart began.
ON_ITS_WAY_S = 1.0


def met_the_stop(seen: dict) -> bool:
    """Whether the stopping client's request or handshake reached the stopping worker, or came too late to.

    A connection closed under it sooner than ON_ITS_WAY_S after the restart began fails: the worker was to read
    on. Closed later, the client was late, held up on a loaded machine: that attempt did not meet the moment
    under test. Debian 12's switching run failed twice in suite runs with what a late client gets (a broken pipe,
    then websockets' "no close frame received or sent": a handshake sent 1.3 s into the stop, by hand, gets
    exactly that), with no word of when it was sent; the client now says. A third time (s69, hypercorn) the
    client's handshake met the closed connection before any status line (websockets' InvalidMessage), which
    the client did not take for an unanswered one and ended with a traceback, again with no word of when.
    """
    if "unanswered" not in seen:
        return True
    assert seen["sent_after_s"] >= ON_ITS_WAY_S, (
        f"the server closed the connection under a request or handshake sent {seen['sent_after_s']} s into its "
        f"stop: {seen}"
    )
    return False


# Connections that the client below opens to an instance's socket before the instance's stop begins, and the
# seconds into the stop at which each sends its request: within the second that the instance reads on.
LATE_CLIENTS = 20
LATE_AFTER_S = 0.4

# Opens LATE_CLIENTS connections to an instance's socket, restarts the instance, sends a request on each
# connection LATE_AFTER_S later, and prints what each got (its status, or the error) as JSON.
LATE_CLIENT = """
import json, socket, subprocess, sys, threading, time

path, service, count, after = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
clients = []
for _dummy in range(count):
    client = socket.socket(socket.AF_UNIX)
    client.settimeout(15)
    client.connect(path)
    clients.append(client)
restarting = subprocess.Popen(["systemctl", "restart", service])
time.sleep(after)
seen = [""] * count


def ask(index, client):
    answer = b""
    try:
        client.sendall(b"GET /health/ HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n")
        while chunk := client.recv(65536):
            answer += chunk
        seen[index] = answer.split(b" ", 2)[1].decode() if answer else "closed unanswered"
    except OSError as error:
        seen[index] = type(error).__name__


threads = [threading.Thread(target=ask, args=pair) for pair in enumerate(clients)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
restarting.wait()
print(json.dumps(seen))
"""


@pytest.mark.skipif(TRAITS["socket_activation"], reason=f"systemd holds {KIND}'s socket: the test above is its stop's")
def test_an_instance_told_to_stop_answers_the_connections_it_took_just_before(host):
    """Connections made to an instance's socket just before its stop began, whose requests come a moment later,
    are answered.

    nginx sends its request as soon as it has connected, but an instance can take the connection as it is told
    to stop and get the request after: nginx, still sending a POST's body, met "Broken pipe" and answered 502 (1
    request of 21,512 under the busy load through granian's restarts, by hand on Debian 12). A stop first takes
    the instance out of nginx's way and reads on for a second: granian's unit removes the socket's file, then
    waits (the kinds table's step_aside); daphne's helper renames the file and reads on (files/asgi_stack_daphne.py,
    GRACE). Without the unit's wait (ExecStop= emptied), granian closed each of 20 such connections unread
    (BrokenPipeError for all 20, 3 of 3 runs, Debian 13; 200 for each with it), and so did daphne with no
    grace (GRACE 0: 3 of 3).
    """
    host.run(f"systemctl reset-failed {SERVICE_NAMES}")
    result = run_client(host, "late_client", LATE_CLIENT, SOCKETS[0], SERVICES[0], LATE_CLIENTS, LATE_AFTER_S)
    assert result.rc == 0, result.stdout + result.stderr
    seen = json.loads(result.stdout)
    counts = {answer: seen.count(answer) for answer in sorted(set(seen))}
    print(f"[{KIND}] connections taken just before a stop, their requests {LATE_AFTER_S} s into it: {counts}")
    assert seen == ["200"] * LATE_CLIENTS, f"{seen}\n{what_systemd_and_the_server_said(host, 30)}"


@pytest.mark.skipif(not TRAITS["socket_activation"], reason="a socket-activated kind's graceful stop")
def test_a_websocket_handshake_on_its_way_to_a_stopping_server_does_not_hold_the_stop(host):
    """A WebSocket handshake sent on a kept-alive connection just after the server began to stop is refused, or
    accepted and closed with the kind's close frame; either way the stop does not wait out the graceful timeout,
    and the client connects again once the restart returns.

    A browser's WebSocket meets this when nginx's connection for it reaches a worker as the worker's stop begins
    (the test's kept-alive connection is the same to the worker: a connection with no request yet). The stop closes
    the WebSockets open when it began: one accepted later was left open, and held its worker's stop until the
    graceful timeout. uvicorn's kinds answer it as a plain request
    (files/asgi_stack_uvicorn.py, _should_upgrade); hypercorn and gunicorn_asgi close it with 1001, their stops
    looking for WebSockets accepted since they began (files/asgi_stack_proxy_fix.py, StoppingTCPServer;
    files/asgi_stack_gunicorn.py). Without each of the three, on Debian 13, the WebSocket got no close frame and
    ended 15.7 s on, its worker's stop with it. An attempt whose client was held up past the second in which a
    stopping worker reads is made again, up to ATTEMPTS times (met_the_stop).
    """
    for attempt in range(1, ATTEMPTS + 1):
        host.run(f"systemctl reset-failed {SERVICE_NAMES}")
        result = run_client(host, "stopping_client", STOPPING_CLIENT, SOCKET, SERVICE, "websocket")
        assert result.rc == 0, result.stdout + result.stderr
        seen = json.loads(result.stdout)
        print(f"[{KIND}] attempt {attempt}, a WebSocket handshake on its way to a stopping server: {seen}")
        assert seen["echo_after"] == "after", seen
        if met_the_stop(seen):
            break
    else:
        pytest.skip(f"in each of {ATTEMPTS} attempts the client was late (a loaded machine)")
    if "refused" in seen:
        assert seen["refused"] != 101, seen
    else:
        assert seen["closed"] == TRAITS["websocket_stop"], seen
    stop = stop_took_s(host, SERVICE)
    said = what_systemd_and_the_server_said(host, seen["restart_s"])
    assert stop < NOT_HELD_UP_S, f"the stop took {stop} s: {seen}\n{said}"


# Sends a WebSocket handshake that the demo's app answers ACCEPT_AFTER_S seconds later (?accept_after=), restarts
# the service while the app still holds it, and prints what the client saw as JSON: the status of a refusal, or the
# close frame that followed the accept; then whether a new WebSocket echoes once the restart has returned.
DECIDING_CLIENT = """
import asyncio, json, sys, time
import websockets

SOCKET, SERVICE, ACCEPT_AFTER = sys.argv[1], sys.argv[2], float(sys.argv[3])

async def main():
    seen = {}
    began = time.monotonic()
    opening = asyncio.ensure_future(websockets.unix_connect(
        SOCKET, f"ws://localhost/ws/echo/?accept_after={ACCEPT_AFTER}", origin="http://localhost", open_timeout=30,
    ))
    await asyncio.sleep(ACCEPT_AFTER / 3)
    restarting = await asyncio.create_subprocess_exec("systemctl", "restart", SERVICE)
    try:
        ws = await opening
    except websockets.InvalidStatus as refused:
        seen["refused"] = refused.response.status_code
    else:
        seen["opened_after_s"] = round(time.monotonic() - began, 1)
        try:
            seen["closed"] = "not closed: " + repr(await asyncio.wait_for(ws.recv(), 60))
        except websockets.ConnectionClosed as closed:
            seen["closed"] = closed.rcvd.code if closed.rcvd else 0
    await restarting.wait()
    seen["restart_s"] = round(time.monotonic() - began, 1)
    async with websockets.unix_connect(SOCKET, "ws://localhost/ws/echo/", origin="http://localhost") as ws:
        await ws.send("after")
        seen["echo_after"] = await asyncio.wait_for(ws.recv(), 30)
    print(json.dumps(seen))

asyncio.run(main())
"""
# Seconds the app takes to accept in the test below: the stop begins a third of the way in.
ACCEPT_AFTER_S = 1.5


def test_a_websocket_handshake_the_app_is_answering_when_the_stop_begins_gets_its_answer(host):
    """A WebSocket handshake that the app is still deciding on when the server's stop begins (a consumer that
    looks up who connects before it accepts) gets the app's answer, not an error from the server: accepted, it
    is then closed with the kind's close frame, and the client connects again once the restart returns.

    uvicorn answered it 500 (its WebSocket's shutdown before the handshake completes), which a browser shows as
    a failed connection and a client library raises on. Most likely what a CI run met under the busy load of
    the deploy tests (gunicorn_uvicorn serving, Debian 13): one of the WebSockets opened before a step was
    answered 500, as by a worker recycled after its maximum of requests. files/asgi_stack_uvicorn.py leaves the
    handshake to the app. The stop is not held up by it.
    """
    host.run(f"systemctl reset-failed {SERVICE_NAMES}")
    result = run_client(host, "deciding_client", DECIDING_CLIENT, SOCKET, SERVICE, ACCEPT_AFTER_S)
    assert result.rc == 0, result.stdout + result.stderr
    seen = json.loads(result.stdout)
    print(f"[{KIND}] a WebSocket handshake the app had not answered when the stop began: {seen}")
    assert "refused" not in seen, f"the server refused the handshake that the app was to accept: {seen}"
    assert seen["closed"] == TRAITS["websocket_stop"], seen
    assert seen["echo_after"] == "after", seen
    stop = stop_took_s(host, SERVICE)
    said = what_systemd_and_the_server_said(host, seen["restart_s"])
    assert stop < NOT_HELD_UP_S, f"the stop took {stop} s: {seen}\n{said}"


def test_restarting_the_server_keeps_its_listening_socket(host):
    if not TRAITS["socket_activation"]:
        pytest.skip(f"{KIND} binds its socket itself, and removes its file when it stops")
    before = host.check_output(f"stat -c %i {SOCKET}")
    assert host.run(f"systemctl restart {UNIT}.service").rc == 0
    assert host.check_output(f"stat -c %i {SOCKET}") == before
    assert through_socket(host, "/health/")["status"] == "ok"


def workers_of(host, service: str) -> set[int]:
    """The worker processes of a service's main process now (one ps: workers come and go during a reload)."""
    main = host.check_output(f"systemctl show -p MainPID --value {service}")
    children = host.run(f"ps -o pid=,args= --ppid {main}").stdout.splitlines()
    return {int(line.split()[0]) for line in children if line.strip() and "resource_tracker" not in line}


@pytest.mark.parametrize("action", ["reload", "restart"])
def test_a_running_request_finishes_through_a_reload_and_a_restart(host, action):
    """A request running on the server's socket while the server reloads, or restarts, gets its whole answer;
    once ``systemctl reload`` returns, no old worker is left.

    gunicorn, uvicorn, hypercorn and granian reload (SIGHUP) and let running
    requests finish. daphne's instances restart one after the other, and the
    stop of each lets its running requests finish (files/asgi_stack_daphne.py):
    the request goes straight to the first instance's socket, no nginx retry.
    A reload returns only once the old workers are gone
    (files/asgi-stack-server-signal): granian replaces its workers one at a
    time (18 s for five on Debian 12), uvicorn each once its successor serves,
    and a `kill -HUP` returned at once. A restart: hypercorn's main process
    sends SIGTERM to the workers still stopping once one has stopped, which
    ended the one with the request (files/asgi_stack_proxy_fix.py).
    The request's view waits for a child process (a converter, say): the
    stop's SIGTERM goes to the server's main process alone (the kinds table's
    kill_mode, mixed), and the child runs to its end with the request.
    """
    if action == "restart" and not TRAITS["reload_signal"]:
        pytest.skip(f"{KIND}'s reload is a restart")
    client = (
        f"--unix-socket {SOCKET} -H 'X-Forwarded-Proto: https' -H 'X-Forwarded-For: 127.0.0.1'"
        " 'http://localhost/slow/?seconds=3&child=1'"
    )
    reloads = action == "reload" and TRAITS["reload_signal"]
    old_workers = set().union(*(workers_of(host, service) for service in SERVICES)) if reloads else set()
    host.run("rm -f /tmp/slow.out")
    host.run(f"nohup curl -sS --max-time 40 -o /tmp/slow.out -w '%{{http_code}}' {client} > /tmp/slow.code 2>&1 &")
    time.sleep(1)
    began = time.monotonic()
    # Instances that restart go one after the other; those that reload, at once.
    for services in [SERVICES] if reloads else [[service] for service in SERVICES]:
        assert host.run(f"systemctl {'reload' if reloads else 'restart'} {' '.join(services)}").rc == 0
    returned = time.monotonic()
    left = old_workers & set().union(*(workers_of(host, service) for service in SERVICES))
    deadline = time.monotonic() + 20
    # Until curl is done. The pattern does not match itself: 'slow/' would
    # match the shell that runs pgrep, and the loop would wait out its 20 s.
    while host.run("pgrep -f 'slo[w]/'").rc == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert host.file("/tmp/slow.code").content_string.strip() == "200", host.file("/tmp/slow.code").content_string
    answer = json.loads(host.file("/tmp/slow.out").content_string)
    assert answer["slept"] == 3.0 and answer["child_returncode"] == 0, answer
    if reloads:
        print(f"[{KIND}] the reload replaced {len(old_workers)} workers in {returned - began:.1f} s")
        assert not left, f"workers {sorted(left)} were still there when systemctl reload returned"


# The longest request the demo's /slow/ view makes (tests/demo_project/core/views.py).
SLOW_MAX_S = 10


def graceful_timeout_of(host) -> float:
    """The graceful timeout the service was deployed with: its TimeoutStopSec= is 5 s longer."""
    shown = host.check_output(f"systemctl show -p TimeoutStopUSec --value {SERVICE}")
    return float(shown.rstrip("s")) - 5 if shown.endswith("s") and "min" not in shown else 60.0


@pytest.mark.parametrize("action", ["reload", "restart"])
def test_a_request_longer_than_the_graceful_timeout_ends_at_it(host, action):
    """A request still running when the graceful timeout has passed since a reload, or a restart, began is cut
    then: the server does not wait for it to end (how long the action took is printed).

    Where the deployed timeout leaves room for it below the demo's longest request (the asgi_server scenario
    deploys 5 s; the others keep the role's 30). gunicorn's uvicorn worker left uvicorn's own timeout unset: a
    reload, whose old workers no one kills after the graceful timeout as a stop does, let the request run on
    (10 s of 10 with a timeout of 5, by hand on the demo host) until files/asgi_stack_uvicorn_worker.py gave it
    gunicorn's. By hand on the demo host (Debian 13, 5 s, a request of 10 s), each kind cut it: reloads returned
    after 5.4 (gunicorn_uvicorn), 7.6 (uvicorn), 6.0 (gunicorn_asgi), 5.4 (hypercorn, which answers 500) and
    15.6 s (granian, one worker after the other), restarts after 5.7 to 6.8 s.
    """
    timeout = graceful_timeout_of(host)
    if timeout + 3 > SLOW_MAX_S:
        pytest.skip(f"the graceful timeout ({timeout:g} s) leaves no room below the longest request ({SLOW_MAX_S} s)")
    if action == "reload" and not TRAITS["reload_signal"]:
        pytest.skip(f"{KIND}'s reload is a restart")
    client = (
        f"--unix-socket {SOCKET} -H 'X-Forwarded-Proto: https' -H 'X-Forwarded-For: 127.0.0.1'"
        f" http://localhost/slow/?seconds={SLOW_MAX_S}"
    )
    host.run("rm -f /tmp/cut.out /tmp/cut.code")
    host.run(
        f"nohup curl -sS --max-time 40 -o /tmp/cut.out -w ' %{{http_code}} %{{time_total}}' {client}"
        " > /tmp/cut.code 2>&1 &"
    )
    time.sleep(1)
    host.run(f"systemctl reset-failed {SERVICE_NAMES}")
    began = time.monotonic()
    for services in [SERVICES] if action == "reload" else [[service] for service in SERVICES]:
        assert host.run(f"systemctl {action} {' '.join(services)}").rc == 0
    took = time.monotonic() - began
    deadline = time.monotonic() + 20
    while host.run("pgrep -f 'slo[w]/'").rc == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    outcome = host.file("/tmp/cut.code").content_string.split()
    answer = host.file("/tmp/cut.out").content_string if host.file("/tmp/cut.out").exists else ""
    print(
        f"[{KIND}] {action} with a {SLOW_MAX_S} s request, graceful timeout {timeout:g} s: returned after {took:.1f} s,"
        f" the client saw {outcome}"
    )
    assert '"slept"' not in answer, f"the request ran to its end: {answer}"
    # It ended at the timeout, a second or two on (the client began 1 s before the action).
    assert float(outcome[-1]) < timeout + 1 + 3, outcome


# Opens a WebSocket on the server's socket, restarts the server, and connects
# again; prints what it saw as JSON.
RESTART_CLIENT = """
import asyncio, json, sys, time
import websockets

SOCKET, SERVICES = sys.argv[1], sys.argv[2:]

async def echo(ws, text):
    await ws.send(text)
    return await asyncio.wait_for(ws.recv(), 30)

async def main():
    ws = await websockets.unix_connect(SOCKET, "ws://localhost/ws/echo/", origin="http://localhost")
    seen = {"echo_before": await echo(ws, "before")}
    started = time.monotonic()
    restarting = await asyncio.create_subprocess_exec("systemctl", "restart", *SERVICES)
    try:
        seen["closed"] = "not closed: " + repr(await asyncio.wait_for(ws.recv(), 60))
    except websockets.ConnectionClosed as closed:
        seen["closed"] = closed.rcvd.code if closed.rcvd else 0
    seen["closed_after_s"] = round(time.monotonic() - started, 1)
    await restarting.wait()
    seen["restart_s"] = round(time.monotonic() - started, 1)
    ws = await websockets.unix_connect(SOCKET, "ws://localhost/ws/echo/", origin="http://localhost")
    seen["echo_after"] = await echo(ws, "after")
    # Closed here: left open, the client's exit waited 10 s for a close handshake.
    await ws.close()
    print(json.dumps(seen))

asyncio.run(main())
"""
# The role's default graceful timeout, which the scenarios keep.
GRACEFUL_TIMEOUT_S = ROLE_DEFAULTS["asgi_server_graceful_timeout"]
# Half of it: a stop that takes longer has waited it out.
NOT_HELD_UP_S = GRACEFUL_TIMEOUT_S / 2
# The server's services, as systemctl takes them.
SERVICE_NAMES = " ".join(SERVICES)


def what_systemd_and_the_server_said(host, seconds: float) -> str:
    """The services' journal over the last ``seconds`` (and a few more), as an assertion's message: why a restart
    took that long."""
    units = " ".join(f"-u {service}" for service in SERVICES)
    since = int(seconds) + 10
    journal = host.run(f"journalctl --no-pager -o short-monotonic {units} --since '-{since}s' | tail -n 150").stdout
    return f"the journal of {', '.join(SERVICES)}:\n{journal}"


def test_a_websocket_open_through_a_restart_gets_the_kinds_close_frame_and_connects_again(host):
    """The WebSocket gets the close frame the kinds table says (websocket_stop: the README's table), and no stop
    waits out the graceful timeout for it.

    gunicorn's ASGI worker waited for it, then closed it with 1011 (files/asgi_stack_gunicorn.py), and daphne
    dropped it (files/asgi_stack_daphne.py), and so did granian, or sent a close frame without a code after up
    to 15 s (both seen on Debian 12), until its target closed them (files/asgi_stack_granian.py).
    """
    # systemd refuses a sixth start within 10 s: the restarts of the tests before count no more.
    host.run(f"systemctl reset-failed {SERVICE_NAMES}")
    result = run_client(host, "restart_client", RESTART_CLIENT, SOCKET, SERVICE_NAMES)
    assert result.rc == 0, result.stdout + result.stderr
    seen = json.loads(result.stdout)
    assert seen["echo_before"] == "before" and seen["echo_after"] == "after", seen
    assert seen["closed"] == TRAITS["websocket_stop"], seen
    # The stops, from systemd's timestamps: the starts that follow load the app, and take what the host's CPUs
    # allow: a restart of granian's two instances took 16.2 s in all on a 2-core machine while another run's deploys
    # ran under a busy load, the first instance's stop 2.1 s of it (its journal).
    stops = {service: stop_took_s(host, service) for service in SERVICES}
    seen["stops_s"] = stops
    assert max(stops.values()) < NOT_HELD_UP_S, f"{seen}\n{what_systemd_and_the_server_said(host, seen['restart_s'])}"


# Opens WebSockets on the server's socket and a streamed answer of STREAM_S
# seconds, restarts the server half a second into the stream, and, a second
# into the stop, sends on each WebSocket; then waits for each one's close and
# connects again. Prints what it saw as JSON.
HELD_OPEN_CLIENT = """
import asyncio, json, sys, time
import websockets

SOCKET, COUNT, STREAM_S, SERVICES = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
URL = "ws://localhost/ws/echo/"
STREAM = (
    f"GET /stream/?seconds={STREAM_S:g} HTTP/1.1\\r\\nHost: localhost\\r\\nX-Forwarded-Proto: https\\r\\n"
    "X-Forwarded-For: 127.0.0.1\\r\\nConnection: close\\r\\n\\r\\n"
)

async def streamed():
    reader, writer = await asyncio.open_unix_connection(SOCKET)
    writer.write(STREAM.encode())
    answer = await reader.read()
    return time.monotonic(), answer.decode(errors="replace")

async def held(ws, began):
    await asyncio.sleep(max(began + 1.0 - time.monotonic(), 0))
    try:
        await ws.send("during")
        during = await asyncio.wait_for(ws.recv(), 10)
    except websockets.ConnectionClosed as closed:
        return {"during": f"closed {closed.rcvd.code if closed.rcvd else 0}", "at": time.monotonic()}
    try:
        code = "not closed: " + repr(await asyncio.wait_for(ws.recv(), 60))
    except websockets.ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd else 0
    return {"during": during, "closed": code, "at": time.monotonic()}

async def main():
    sockets = [await websockets.unix_connect(SOCKET, URL, origin="http://localhost") for _ in range(COUNT)]
    for ws in sockets:
        await ws.send("before")
        assert await ws.recv() == "before"
    stream = asyncio.ensure_future(streamed())
    await asyncio.sleep(0.5)
    began = time.monotonic()
    restarting = await asyncio.create_subprocess_exec("systemctl", "restart", *SERVICES)
    seen = await asyncio.gather(*(held(ws, began) for ws in sockets))
    stream_ended, answer = await stream
    await restarting.wait()
    restarted = time.monotonic()
    ws = await websockets.unix_connect(SOCKET, URL, origin="http://localhost")
    await ws.send("after")
    after = await asyncio.wait_for(ws.recv(), 30)
    await ws.close()
    print(json.dumps({
        "websockets": [
            {"during": one["during"], "closed": one.get("closed"), "closed_after_s": round(one["at"] - began, 2)}
            for one in seen
        ],
        "stream_ended_after_s": round(stream_ended - began, 2),
        "stream_whole": answer.startswith("HTTP/1.1 200") and "end\\n" in answer,
        "restart_s": round(restarted - began, 2), "echo_after": after,
    }))

asyncio.run(main())
"""
HELD_OPEN_WEBSOCKETS = 10
HELD_OPEN_STREAM_S = 4


@pytest.mark.skipif(
    not TRAITS.get("websocket_stop_after_requests"),
    reason=f"{KIND}'s instances restart in turn: a client's next connection goes to the other one at once",
)
def test_a_websocket_stays_open_until_no_worker_of_the_stopping_server_has_a_request_running(host):
    """A server of one instance closes its WebSockets once its running requests (in any worker) have ended, not
    when its stop begins (files/asgi_stack_drain.py): the stop waits for those requests anyway, and a client's
    next connection then waits only for the next server's start.

    Closed at the stop's start, under a busy site's load on Debian 13, a WebSocket's next connection waited for
    the longest request still running and then the start: more than 2 s for 30 of 40 WebSockets through five
    restarts (gunicorn_uvicorn), 11 of 40 (uvicorn). Ten WebSockets, so that workers other than the stream's
    hold some: each must still echo a second into the stop, and close with the kinds table's frame no earlier
    than the stream ended, or than the graceful timeout less the drain's margin (MARGIN) after the restart
    began: the wait's bound, so that the close frames leave before the server is killed. The asgi_server
    scenario's graceful timeout (5 s) puts that bound at 3 s, before the stream's end (3.5 s after the restart
    began): there the close comes at the bound (closed at 3.02 s, the stream ended at 3.53 s, in a full suite).
    """
    host.run(f"systemctl reset-failed {SERVICE_NAMES}")
    result = run_client(
        host, "held_open_client", HELD_OPEN_CLIENT, SOCKET, HELD_OPEN_WEBSOCKETS, HELD_OPEN_STREAM_S, SERVICE_NAMES
    )
    assert result.rc == 0, result.stdout + result.stderr
    seen = json.loads(result.stdout)
    print(f"[{KIND}] {json.dumps(seen)}")
    assert seen["stream_whole"] and seen["echo_after"] == "after", seen
    # The close comes once the stream's last bytes have gone (it waits for them, then at most a look later), or
    # at the wait's bound, counted from the stop's start, which comes after the restart began.
    close_from = min(seen["stream_ended_after_s"], graceful_timeout_of(host) - DRAIN.MARGIN) - 0.5
    for websocket in seen["websockets"]:
        assert websocket["during"] == "during", f"closed while a request still ran: {seen}"
        assert websocket["closed"] == TRAITS["websocket_stop"], seen
        assert websocket["closed_after_s"] >= close_from, seen


# WebSockets whose clients keep sending through a restart, straight to the
# server's (first) socket, and the pause between their messages.
SENDING_CLIENTS = 20
SENDING_EVERY_S = 0.0005
SENDING_CLIENT = """
import asyncio, json, sys
import websockets

SOCKET, COUNT, EVERY, SERVICES = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]

async def keep_sending(ws):
    # Sends a message every EVERY seconds and reads the echoes until the connection ends: the close code it got,
    # 0 for none (the connection was reset or dropped).
    async def send():
        try:
            while True:
                await ws.send("x" * 64)
                await asyncio.sleep(EVERY)
        except websockets.ConnectionClosed:
            pass
    sender = asyncio.ensure_future(send())
    try:
        while True:
            await ws.recv()
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else 0
    finally:
        sender.cancel()

async def main():
    sockets = [
        await websockets.unix_connect(SOCKET, "ws://localhost/ws/echo/", origin="http://localhost")
        for _ in range(COUNT)
    ]
    ended = asyncio.gather(*(keep_sending(ws) for ws in sockets))
    await asyncio.sleep(1)
    restarting = await asyncio.create_subprocess_exec("systemctl", "restart", *SERVICES)
    codes = await asyncio.wait_for(ended, 60)
    await restarting.wait()
    print(json.dumps(codes))

asyncio.run(main())
"""


def test_websockets_sending_through_a_restart_each_get_the_close_frame_not_a_reset(host):
    """Clients that keep sending while the server stops each get its close frame (the kinds table's
    websocket_stop), and the stop is not held up by them.

    A server that closes the connection as soon as its close frame has left, without waiting for the client's
    (RFC 6455 7.1.1), closes it with the client's newest messages unread: the kernel then resets it, and the close
    frame, not yet read by the client, is lost with it. uvicorn did (alone and as gunicorn's worker; by hand on
    the demo host, Debian 13: 3 of 5 runs passed for uvicorn, 1 of 5 for gunicorn_uvicorn), until its stop waited
    for the closing handshake (files/asgi_stack_uvicorn.py): 5 of 5 and 6 of 6. hypercorn's stop took the
    whole graceful timeout in 4 of 5 runs (30.4 s): the app's answers to messages that came before the close frame
    were refused, which ended the app, and the client's close frame was never read, until they were dropped
    (files/asgi_stack_proxy_fix.py): 5 of 5 in 3 s. granian (2.8) closes the connection at once, whatever its
    target does (10, 12 and 5 close frames of 20 lost in three runs): the kinds table's websocket_stop_lost says so,
    and the test reports an expected failure.
    """
    host.run(f"systemctl reset-failed {SERVICE_NAMES}")
    result = run_client(host, "sending_client", SENDING_CLIENT, SOCKET, SENDING_CLIENTS, SENDING_EVERY_S, SERVICE_NAMES)
    assert result.rc == 0, result.stdout + result.stderr
    codes = json.loads(result.stdout)
    stops = {service: stop_took_s(host, service) for service in SERVICES}
    assert max(stops.values()) < NOT_HELD_UP_S, f"stops: {stops}\n{what_systemd_and_the_server_said(host, 60)}"
    lost = sum(code != TRAITS["websocket_stop"] for code in codes)
    xfail_where_close_frames_are_lost(lost, (KIND,))
    assert not lost, codes


def stop_took_s(host, service: str) -> float:
    """Seconds the service's last stop took: from leaving active to inactive (systemd's monotonic timestamps)."""
    shown = host.check_output(
        f"systemctl show -p ActiveExitTimestampMonotonic -p InactiveEnterTimestampMonotonic {service}"
    )
    stamps = dict(line.split("=", 1) for line in shown.splitlines())
    stopped, began = int(stamps["InactiveEnterTimestampMonotonic"]), int(stamps["ActiveExitTimestampMonotonic"])
    return round((stopped - began) / 1e6, 1)


# Seconds the demo's app takes to load in the test below (DEMO_LOAD_DELAY).
LOAD_DELAY_S = 4
# Seconds into a start (restart --no-block) at which the test below restarts
# the server again: its workers are loading the app.
INTERRUPT_AFTER_S = 1.5


@contextlib.contextmanager
def starting_slowly(
    host, restart_after: str, environment: str, files: dict[str, str] | None = None, writable: str = ""
):
    """Within the block, the server starts with ``environment`` (a runtime drop-in's Environment=), with
    ``files`` written on the host, and with the directory ``writable`` made for it to write in; after it, all
    are gone and ``restart_after`` (services, as systemctl takes them) is restarted without them."""
    dropin = f"/run/systemd/system/{unit_files_of(KIND)[0]}.d"
    service = f"[Service]\nEnvironment={environment}\n" + (f"ReadWritePaths={writable}\n" if writable else "")
    files = {f"{dropin}/slow-start.conf": service, **(files or {})}
    if writable:
        assert host.run(f"rm -rf {writable} && mkdir -m 1777 {writable}").rc == 0
    for path, text in files.items():
        assert host.run(f"mkdir -p {path.rsplit('/', 1)[0]} && printf '{text}' > {path}").rc == 0
    try:
        assert host.run("systemctl daemon-reload").rc == 0
        yield
    finally:
        host.run(f"rm -rf {dropin} {' '.join(files)} {writable} && systemctl daemon-reload")
        assert host.run(f"systemctl restart {restart_after}").rc == 0


# Where the demo's app, loaded slowly below, marks each process that has loaded it (DEMO_LOADED_DIR).
LOADED_DIR = "/run/asgi-stack-test-loaded"


def app_loading_slowly(host, restart_after: str):
    """Within the block, the server's app takes LOAD_DELAY_S to load at each start (the demo's DEMO_LOAD_DELAY),
    and then marks its process in LOADED_DIR."""
    environment = f"DEMO_LOAD_DELAY={LOAD_DELAY_S} DEMO_LOADED_DIR={LOADED_DIR}"
    return starting_slowly(host, restart_after, environment, writable=LOADED_DIR)


# A gunicorn configuration file whose post_fork hook (run in a new worker right after its fork, before the
# worker class sets its signal handlers) sleeps LOAD_DELAY_S. Found through GUNICORN_CMD_ARGS's --config, which
# gunicorn reads when its command line names no configuration file.
BOOT_HOOK = "/run/asgi-stack-boot-delay.py"
BOOT_HOOK_TEXT = f"import time\n\n\ndef post_fork(server, worker):\n    time.sleep({LOAD_DELAY_S})\n"


def workers_booting_slowly(host, restart_after: str):
    """Within the block, each new gunicorn worker waits LOAD_DELAY_S before it sets its handlers."""
    return starting_slowly(host, restart_after, f"GUNICORN_CMD_ARGS=--config={BOOT_HOOK}", {BOOT_HOOK: BOOT_HOOK_TEXT})


def test_a_restart_while_the_server_starts_returns_once_it_serves(host):
    """An app that takes its time to load, and a restart that comes while the server starts: the stop does not
    wait out the graceful timeout, and ``systemctl restart`` returns only once the server serves the app.

    The stop comes while the workers load the app (systemd stops a service whose start it has not finished).
    gunicorn's workers lost a SIGTERM that came while they booted and served on until the arbiter's graceful
    timeout had passed; files/asgi_stack_arbiter.py holds it until the worker can take it. Since a restart
    returns only once every worker serves, a restart in a row no longer meets that moment, and without the hold
    this test passed too (10.2 s); test_a_worker_told_to_stop_while_it_starts_stops meets it. hypercorn's
    stop waited out the graceful timeout (40.4 s in a suite run on Debian 12): systemd runs no ExecStop for a
    unit it has not seen start, so no helper woke its QUIC server; its workers now wake it themselves
    (files/asgi_stack_proxy_fix.py). granian's did too (31 to 37 s): its workers, forks of its main process,
    kept its SIGTERM handler while they loaded the app; they now end at once (files/asgi_stack_granian_launch.py).

    Once restarted, a deploy's health check, or the next restart, meets a server that answers at once (the
    kinds table's ready_when_serving, the README's "a restart returns"). uvicorn was counted started as soon as
    it ran (Type=exec): restarts 1 s apart stopped workers that had served nothing, and a request waited
    through all of them (14.9 s through five in a suite run); files/asgi_stack_uvicorn.py now tells systemd
    once every worker serves, files/asgi_stack_arbiter.py holds gunicorn's READY=1 until then, and
    hypercorn's first worker to load the app says so (files/asgi_stack_notify.py). daphne and granian listen
    on their socket only once the app is loaded, and their restart waits for it to answer.

    Whether a process of each service had loaded the app when the restart returned is read from the marks that
    the demo's app leaves (DEMO_LOADED_DIR), not from how soon the first answer comes: that was asked to come
    within half the app's load time, and on a loaded machine took 2.8 s (hypercorn in Debian 12's switching
    run, s62). The answers' times are printed.
    """
    if not TRAITS.get("ready_when_serving"):
        pytest.skip(f"systemd counts {KIND} started while it still loads the app (the README's table)")
    # Each socket's first answer once the restart has returned (an instance's each, for the kinds that run two).
    first_answers = " && ".join(
        f"curl -sS -o /dev/null -w '%{{http_code}}:%{{time_total}} ' --max-time 30 --unix-socket {socket} "
        "http://localhost/health/"
        for socket in SOCKETS
    )
    starting = f"systemctl restart --no-block {SERVICE_NAMES} && sleep {INTERRUPT_AFTER_S} && "
    # The restart, timed on the host; as soon as it returns, the processes that have loaded the app (their marks)
    # and each service's processes (ps names the unit of each); then the answers.
    # The stop's part of it: from the restart to when each service's next start began (systemd's monotonic
    # clock, in microseconds), which is when its stop had ended.
    restart = (
        "t0=$(date +%s%N) && m0=$(python3 -c 'import time; print(time.monotonic_ns() // 1000)') && "
        f"systemctl restart {SERVICE_NAMES} && echo $(( $(date +%s%N) - t0 )) && "
        f"echo $m0 $(systemctl show -P InactiveExitTimestampMonotonic {SERVICE_NAMES})"
    )
    loaded = f"echo $(ls {LOADED_DIR}) && " + " && ".join(
        f"echo $(ps -e -o pid=,unit= | awk '$2 == \"{service}\" {{ print $1 }}')" for service in SERVICES
    )
    # systemd refuses a sixth start within 10 s: the restarts of the tests before count no more.
    host.run(f"systemctl reset-failed {SERVICE_NAMES}")
    with app_loading_slowly(host, restart_after=SERVICE_NAMES):
        answers = host.run(f"{starting}{restart} && {loaded} && {first_answers}")
    assert answers.rc == 0, answers.stdout + answers.stderr
    took_ns, stop_clock, marked, *processes, first = answers.stdout.splitlines()
    took = int(took_ns) / 1e9
    began, *next_starts = (int(microseconds) for microseconds in stop_clock.split())
    assert len(next_starts) == len(SERVICES), stop_clock
    stop = (max(next_starts) - began) / 1e6
    print(
        f"[{KIND}] a restart while the server started: {took:.1f} s, its stop {stop:.1f} s of it,"
        f" then answers (status:seconds): {first}"
    )
    assert took >= LOAD_DELAY_S, f"the restart returned after {took:.1f} s, before the app had loaded"
    # A restart whose stop waited out the graceful timeout took that long and the start after it: 34.3 s
    # (hypercorn without its QUIC server's wake-up), 35 to 37 s (granian without its launcher). The stop alone is
    # measured against it: the workers of the start it interrupts end once they have loaded the app, and on a
    # slow machine under the suite's other run, hypercorn's five, loading at once, ended 20.1 s after the restart
    # and the start after them took 9.5 s more (s74: 30.3 s in all, over the timeout; the stop waited out nothing).
    assert stop < GRACEFUL_TIMEOUT_S, (
        f"the stop of a restart while the server started took {stop:.1f} s (the restart {took:.1f} s);"
        f" {what_systemd_and_the_server_said(host, took)}"
    )
    for service, pids in zip(SERVICES, processes, strict=True):
        assert set(pids.split()) & set(marked.split()), (
            f"when the restart returned, none of {service}'s processes ({pids}) had loaded the app "
            f"(those that had: {marked or 'none'})"
        )
    for socket, answer in zip(SOCKETS, first.split(), strict=True):
        status, _seconds = answer.split(":")
        assert status == "200", f"{socket} answered {status} after the restart"


# Seconds within which a worker that died is replaced; well under the
# role's default asgi_server_timeout, which uvicorn's process manager waited
# out when a worker died while it waited for the worker's answer.
REPLACED_WITHIN_S = 10
# Seconds within which the server answers once the new worker is there. Its
# app still loads: hypercorn starts all its workers anew, and on a busy
# machine five loading at once took 20 s (s74); a wait of 10 s ran out in
# CI on bb1729d (Debian 12, with the suite's other run under load).
ANSWERS_AFTER_A_NEW_WORKER_WITHIN_S = 60


@pytest.mark.skipif(not TRAITS["workers"], reason=f"{KIND} runs one process")
def test_a_worker_that_dies_without_answering_is_replaced_within_seconds(host):
    """A worker that dies while its process manager waits for its answer is replaced at once.

    uvicorn's manager waited out its health check's whole timeout first
    (files/asgi_stack_uvicorn.py says what that did under load). The worker
    is kept silent for two seconds, so that the manager's check of it is
    waiting when it dies. hypercorn's main process ends instead, with status
    0, and systemd starts the server again (its kind's restart: always).
    """
    assert REPLACED_WITHIN_S < ASGI_SERVER_TIMEOUT_S
    workers = workers_of(host, SERVICE)
    victim = min(workers)
    assert host.run(f"kill -STOP {victim} && sleep 2 && kill -KILL {victim}").rc == 0
    deadline = time.monotonic() + REPLACED_WITHIN_S
    while not (now := workers_of(host, SERVICE)) - workers - {victim} or victim in now:
        assert time.monotonic() < deadline, f"worker {victim} was not replaced within {REPLACED_WITHIN_S} s: {now}"
        time.sleep(0.5)
    assert through_socket(host, "/health/", max_time=ANSWERS_AFTER_A_NEW_WORKER_WITHIN_S)["status"] == "ok"


# Seconds into a new worker's start (a step of it slowed to LOAD_DELAY_S) at
# which the test below tells it to stop, and within which it must have ended
# once that step is over.
STOP_WORKER_AFTER_S = 1
ENDS_AFTER_LOAD_WITHIN_S = 10
# The steps of a worker's start that the test below slows, each with what slows it; gunicorn alone runs a hook
# in a worker before the worker class sets its handlers (post_fork).
SLOWED_STEPS = {"loading_the_app": app_loading_slowly, "booting": workers_booting_slowly}
GUNICORN = any(package.startswith("gunicorn") for package in TRAITS["packages"])


@pytest.mark.skipif(not TRAITS["workers"], reason=f"{KIND} runs one process")
@pytest.mark.skipif(
    TRAITS.get("restart") == "always", reason=f"{KIND}'s main process ends when a worker does: systemd starts it anew"
)
@pytest.mark.parametrize("step", SLOWED_STEPS)
def test_a_worker_told_to_stop_while_it_starts_stops(host, step):
    """A worker told to stop (SIGTERM) while it still starts ends once that step of its start is over.

    A worker that replaced one that died, or one that reached its maximum of requests, may still start when
    the service stops or reloads. Before a gunicorn worker sets its own handlers, the arbiter's, inherited
    through the fork, take the stop and queue it where only the arbiter's copy in the worker sees it; and
    uvloop drops a signal that comes before its loop runs. files/asgi_stack_arbiter.py holds the stop from the
    worker's first step until the worker can take it. Without it, a worker told to stop as it booted (in its
    post_fork hook, before it sets its handlers) served on in both gunicorn kinds (still there 13.1 s on in
    this test, Debian 13; with the hold it ended 2.8 to 4.1 s on), and so did gunicorn_asgi's as it loaded the
    app (20 s on, 4 of 4 by hand; with the hold 4.2 s on); gunicorn_uvicorn's has set its handlers by then and
    ends at once. uvicorn's ended 3.6 s on, granian's at once (its launcher, files/asgi_stack_granian_launch.py).
    """
    if step == "booting" and not GUNICORN:
        pytest.skip(f"{KIND} runs nothing in a worker before it sets its handlers")
    host.run(f"systemctl reset-failed {SERVICE_NAMES}")
    with SLOWED_STEPS[step](host, restart_after=SERVICE):
        assert host.run(f"systemctl restart {SERVICE}").rc == 0
        workers = workers_of(host, SERVICE)
        victim = min(workers)
        assert host.run(f"kill -KILL {victim}").rc == 0
        deadline = time.monotonic() + REPLACED_WITHIN_S
        while not (new := workers_of(host, SERVICE) - workers):
            assert time.monotonic() < deadline, f"worker {victim} was not replaced within {REPLACED_WITHIN_S} s"
            time.sleep(0.1)
        (starting,) = new
        time.sleep(STOP_WORKER_AFTER_S)
        assert host.run(f"kill -TERM {starting}").rc == 0
        told = time.monotonic()
        ends_within = LOAD_DELAY_S - STOP_WORKER_AFTER_S + ENDS_AFTER_LOAD_WITHIN_S
        # Until it has ended (gone, or a zombie that its manager has yet to reap).
        while host.run(f"grep -q '^State:[[:space:]]*[^Z]' /proc/{starting}/status").rc == 0:
            waited = time.monotonic() - told
            assert waited < ends_within, f"worker {starting}, told to stop ({step}), runs {waited:.1f} s on"
            time.sleep(0.2)
        print(f"[{KIND}] a worker told to stop while it started ({step}) ended {time.monotonic() - told:.1f} s on")
    assert through_socket(host, "/health/")["status"] == "ok"


def test_server_restarts_after_it_is_killed(host):
    main_pid = current_main_pid(host)
    assert main_pid > 0
    assert host.run(f"kill -9 {main_pid}").rc == 0
    deadline = time.monotonic() + 30
    new_pid = 0
    while time.monotonic() < deadline:
        new_pid = current_main_pid(host)
        if new_pid not in (0, main_pid) and host.service(SERVICE).is_running:
            break
        time.sleep(1)
    assert new_pid not in (0, main_pid), "systemd did not restart the server"
    # Nothing of the killed server is left to take connections (or QUIC
    # datagrams) from the sockets the new one shares.
    deadline = time.monotonic() + 10
    while True:
        rows = [line.split() for line in host.check_output("ps -eo pid=,ppid=,unit=").splitlines()]
        ours = [(int(pid), int(ppid)) for pid, ppid, *unit in rows if unit == [SERVICE]]
        left = [pid for pid, ppid in ours if new_pid not in (pid, ppid)]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not left, f"processes of the killed server are still running: {left}"
    # Socket-activated kinds queue requests meanwhile; daphne must first bind again.
    deadline = time.monotonic() + 30
    while host.run(f"curl -sf -o /dev/null --unix-socket {SOCKET} http://localhost/health/").rc != 0:
        assert time.monotonic() < deadline, "the restarted server does not answer"
        time.sleep(0.5)
    assert through_socket(host, "/health/")["status"] == "ok"


def test_unit_that_cannot_start_is_refused_before_it_is_installed(host):
    # A template unit (daphne's) is checked as its first instance.
    unit = f"/etc/systemd/system/{unit_files_of(KIND)[0]}"
    host.run(f"sed 's#^ExecStart=[^ ]*#ExecStart=/nonexistent/gunicorn#' {unit} > /tmp/broken.service")
    result = host.run(f"/usr/local/sbin/asgi-stack-unit-check {SERVICE} /tmp/broken.service")
    assert result.rc != 0
    assert "/nonexistent/gunicorn" in result.stderr
    assert host.run(f"/usr/local/sbin/asgi-stack-unit-check {SERVICE} {unit}").rc == 0
