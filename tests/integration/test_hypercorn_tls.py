"""hypercorn terminating TLS itself: HTTP/1.1, HTTP/2 and HTTP/3 straight to it.

In the test inventory hypercorn serves nginx's socket and also its own TLS
port (asgi_server_tls), with the certificate the certificates role made.
"""

import json
import time

import pytest
from conftest import (
    CA_FILE,
    CURRENT,
    ORIGIN,
    SERVER_HTTP3,
    SERVER_TLS,
    SERVICE,
    TLS_DIR,
    UNIT,
    curl,
    curl_json,
    current_main_pid,
    sslyze,
    tls_1_2,
    worker_pids,
)

pytestmark = [
    pytest.mark.asgi_server,
    pytest.mark.skipif(not SERVER_TLS, reason="only hypercorn terminates TLS itself"),
]

# The role's default port for hypercorn's own TLS.
DIRECT = "https://localhost:8443"


def skip_without_http3(host) -> None:
    """Skips the test where hypercorn serves no HTTP/3 (tests/run-scenario) or the host's curl speaks none."""
    if not SERVER_HTTP3:
        pytest.skip("hypercorn serves no HTTP/3 here (tests/run-scenario)")
    if "HTTP3" not in host.check_output("curl --version"):
        pytest.skip("this distribution's curl has no HTTP/3")


@pytest.mark.switch
@pytest.mark.parametrize("option, version", [("--http1.1", "1.1"), ("--http2", "2")])
def test_page_over_tcp_straight_from_hypercorn(host, option, version):
    response = curl(host, f"{DIRECT}/", option)
    assert response.status == 200
    assert response.http_version == version
    # With its reason phrase, which hypercorn leaves out by itself (test_nginx_proxy.py).
    assert response.status_line == ("HTTP/1.1 200 OK" if version == "1.1" else "HTTP/2 200")
    assert response.headers["server"].startswith("hypercorn-")
    assert "asgi.stack demo" in response.body


def test_hypercorns_port_passes_mozillas_modern_profile(host):
    """One profile for every TLS port: TLS 1.3 only, the guideline's groups (sslyze, guideline 6.0)."""
    result = sslyze(host, 8443, "modern")
    assert result.returncode == 0 and "OK - Compliant" in result.stdout, result.stdout[-3000:]
    refused = tls_1_2(host, f"{DIRECT}/")
    assert refused.rc != 0, "hypercorn's port accepts TLS 1.2 under the modern profile"


def test_alt_svc_advertises_quic_on_the_public_port_where_it_serves_http3(host):
    headers = curl(host, f"{DIRECT}/").headers
    if SERVER_HTTP3:
        assert headers["alt-svc"] == 'h3=":8443"; ma=86400'
    else:
        assert "alt-svc" not in headers


def test_page_over_http3_straight_from_hypercorn(host):
    skip_without_http3(host)
    response = curl(host, f"{DIRECT}/", "--http3-only", "--max-time", "5")
    assert response.status == 200
    assert response.http_version == "3"
    assert response.headers["server"] == "hypercorn-h3"
    assert "asgi.stack demo" in response.body


def test_each_new_http3_connection_straight_to_hypercorn_is_answered(host):
    """Twenty requests, each a curl of its own and so a QUIC connection of its own, each answered the first time.

    Without StaticTableH3Connection (files/asgi_stack_quic.py), curl 8.14.1 now and then
    sends a request whose headers need a QPACK stream it never opens: 12 to 26 of 40 went unanswered.
    """
    skip_without_http3(host)
    write_out = "'%{http_code} %{http_version}\\n'"
    one = f"curl -sS --cacert {CA_FILE} --http3-only --max-time 5 -o /dev/null -w {write_out} {DIRECT}/"
    result = host.run(f"for i in $(seq 20); do {one} || exit 1; done")
    answers = result.stdout.split()
    assert result.rc == 0, f"request {len(answers) // 2 + 1} of 20 unanswered: {result.stderr.strip()}"
    assert answers == ["200", "3"] * 20, result.stdout


def test_one_of_several_workers_answers_every_http3_connection(host, main_pid):
    """Twenty QUIC connections straight to hypercorn, each answered, all by the same one of its workers.

    hypercorn gives every worker the UDP socket; one of them reads it, the first to claim the QUIC lock
    (files/asgi_stack_proxy_fix.py), so that hypercorn serving HTTP/3 runs its default workers. Workers that
    each read it took each a part of every connection's datagrams (which is why HTTP/3 ran one worker before).
    """
    skip_without_http3(host)
    workers = worker_pids(host, main_pid)
    assert len(workers) > 1, f"hypercorn serving HTTP/3 runs {len(workers)} worker(s)"
    one = f"curl -sS --cacert {CA_FILE} --http3-only --max-time 5 {DIRECT}/health/"
    result = host.run(f"for i in $(seq 20); do {one} || exit 1; echo; done")
    answers = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert result.rc == 0, f"request {len(answers) + 1} of 20 unanswered: {result.stderr.strip()}"
    pids = {answer["pid"] for answer in answers}
    assert len(pids) == 1 and pids <= workers, f"answered by {pids}, workers {workers}"


def test_a_worker_that_cannot_read_the_key_serves_nginx_and_the_server_goes_on(host, main_pid):
    """A worker started while the server serves, which can no longer read the key, serves nginx's socket only.

    What a kind switch away from hypercorn does: the key's group (certificates_key_group) narrows before the old
    server stops. Its next worker then failed on the key, and hypercorn's main process ended the server with it,
    under the requests it served (files/asgi_stack_proxy_fix.py). Here a worker is replaced (SIGTERM: a graceful
    stop, after which the main process starts another) while the app cannot read the key.
    """
    key = f"{TLS_DIR}/privkey.pem"
    group = host.file(key).group
    workers = worker_pids(host, main_pid)
    replaced = min(workers)
    since = host.check_output("date +%s")
    try:
        host.check_output(f"chgrp root {key}")
        host.check_output(f"kill -TERM {replaced}")
        for _try in range(100):
            now = worker_pids(host, main_pid)
            if len(now) == len(workers) and replaced not in now:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"no worker took the place of {replaced}: {now}")
        time.sleep(2)  # the new worker's start
        assert current_main_pid(host) == main_pid, "the server ended with its worker"
        said = host.check_output(f"journalctl -u {SERVICE} --since @{since} -o cat")
        assert "serves nginx's socket only: it cannot read the certificate or key" in said, said[-2000:]
        one = f"curl -sS --cacert {CA_FILE} -o /dev/null -w '%{{http_code}} ' {ORIGIN}/whoami/"
        answers = host.check_output(f"for i in $(seq 20); do {one}; done")
        assert answers.split() == ["200"] * 20, answers
    finally:
        host.check_output(f"chgrp {group} {key}")
        assert host.run(f"systemctl restart {SERVICE}").rc == 0


def test_direct_clients_cannot_spoof_proxy_headers(host):
    seen = curl_json(
        host,
        f"{DIRECT}/whoami/",
        "--header",
        "X-Forwarded-For: 203.0.113.9",
        "--header",
        "X-Forwarded-Proto: http",
    )
    assert seen["scheme"] == "https"
    assert seen["is_secure"] is True
    assert seen["client"] == "127.0.0.1"


def test_systemd_holds_the_tls_ports(host):
    listen = host.check_output(f"systemctl show -p Listen --value {UNIT}.socket")
    assert "8443 (Stream)" in listen
    assert ("8443 (Datagram)" in listen) is SERVER_HTTP3


# Opens a connection to hypercorn's own port (with its TLS handshake, or
# "in-handshake": only once a worker has taken it from the socket's queue),
# tells the server to reload, waits until the worker serving the connection
# has begun to stop (it has closed its listening socket), then sends its first
# request on it (in-handshake: a second later, after the handshake, as a
# client far away would).
STOPPING_TLS_CLIENT = """
import socket, ssl, subprocess, sys, time

ca, service, protocol, moment = sys.argv[1:5]
context = ssl.create_default_context(cafile=ca)
context.set_alpn_protocols([protocol])
raw = socket.create_connection(("127.0.0.1", 8443), timeout=15)


def handshake():
    client = context.wrap_socket(raw, server_hostname="localhost")
    assert client.selected_alpn_protocol() == protocol, client.selected_alpn_protocol()
    return client


# The inode of the server's end of the connection once a worker has accepted it (the kernel gives it one only
# then), or "0".
def taken(ours: socket.socket) -> str:
    port = f":{ours.getsockname()[1]:04X}"
    for table in ("/proc/net/tcp6", "/proc/net/tcp"):
        for row in open(table).read().splitlines()[1:]:
            local, remote, inode = (row.split()[column] for column in (1, 2, 9))
            if local.endswith(":20FB") and remote.endswith(port) and inode != "0":
                return inode
    return "0"


if moment == "in-handshake":
    deadline = time.monotonic() + 10
    while (inode := taken(raw)) == "0":
        assert time.monotonic() < deadline, "no worker took the connection"
        time.sleep(0.01)
else:
    client = handshake()
    inode = taken(client)
    assert inode != "0", "no worker holds the connection"
if protocol == "h2":
    import h2.config, h2.connection, h2.events
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    connection.initiate_connection()
    client.sendall(connection.data_to_send())

# /proc/PID/fd of the server's processes is readable by their user only.
WATCH = '''
import os, sys, time
main, connection, deadline = sys.argv[1], f"socket:[{sys.argv[2]}]", time.monotonic() + 10

def fds(pid):
    try:
        return {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    except OSError:
        return set()

listener = os.readlink(f"/proc/{main}/fd/4")
def parent(pid):
    return open(f"/proc/{pid}/stat").read().rsplit(") ", 1)[1].split()[1]

# The worker serving the connection: the others may begin to stop later (on a busy machine, a second later and
# more: when the test waited for them all, that worker had already closed the idle connection).
workers = [pid for pid in os.listdir("/proc") if pid.isdigit() and parent(pid) == main]
serving = [worker for worker in workers if connection in fds(worker)]
print(" ".join(serving), flush=True)
sys.stdin.readline()
while any(listener in fds(worker) for worker in serving):
    if time.monotonic() > deadline:
        sys.exit("the worker serving the connection did not begin to stop")
    time.sleep(0.01)
'''

main = subprocess.check_output(["systemctl", "show", "-p", "MainPID", "--value", service], text=True).strip()
user = subprocess.check_output(["systemctl", "show", "-p", "User", "--value", service], text=True).strip()
watch = subprocess.Popen(
    ["runuser", "-u", user, "--", "python3", "-c", WATCH, main, inode], stdin=subprocess.PIPE,
    stdout=subprocess.PIPE, text=True,
)
assert watch.stdout.readline().split(), "no worker of hypercorn serves the connection"
subprocess.Popen(["systemctl", "reload", service])
watch.stdin.write("go\\n")
watch.stdin.flush()
assert watch.wait() == 0, "the worker serving the connection did not begin to stop"
if moment == "in-handshake":
    time.sleep(1)
    client = handshake()

if protocol == "h2":
    headers = [(":method", "GET"), (":path", "/health/"), (":scheme", "https"), (":authority", "localhost")]
    connection.send_headers(1, headers, end_stream=True)
    client.sendall(connection.data_to_send())
    status = None
    while data := client.recv(65536):
        for event in connection.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                status = dict(event.headers)[b":status"].decode()
            elif isinstance(event, h2.events.StreamReset):
                sys.exit(f"the request was reset (error code {event.error_code})")
            elif isinstance(event, h2.events.StreamEnded):
                print(status)
                sys.exit(0)
        client.sendall(connection.data_to_send())
    sys.exit(f"the connection closed (status {status})")
client.sendall(b"GET /health/ HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n")
answer = b""
while chunk := client.recv(65536):
    answer += chunk
print(answer.split(b"\\r\\n")[0].decode().split(" ")[1] if answer else "the connection closed unanswered")
"""


# Seconds within which hypercorn answers again once a reload has begun.
BACK_WITHIN_S = 60


def curl_status(host, url: str) -> str:
    """The status of one request to ``url`` (conftest's curl), or what curl said when it got none."""
    try:
        return str(curl(host, url).status)
    except AssertionError as unanswered:
        return str(unanswered)


@pytest.mark.parametrize(
    "protocol, moment", [("http/1.1", "after-handshake"), ("h2", "after-handshake"), ("http/1.1", "in-handshake")]
)
def test_a_stopping_hypercorn_answers_a_request_already_on_its_way(host, protocol, moment):
    """A request sent on a new connection just after the worker began to stop (a reload, a renewal) is answered.

    hypercorn alone closes the idle connection, or resets the HTTP/2 request, and the client gets no answer;
    a connection still in its TLS handshake is dropped when the worker ends (asgi_server's
    files/asgi_stack_proxy_fix.py).
    """
    host.run(f"cat > /tmp/stopping_tls_client.py <<'PY'\n{STOPPING_TLS_CLIENT}\nPY")
    result = host.run(f"{CURRENT}/venv/bin/python /tmp/stopping_tls_client.py {CA_FILE} {SERVICE} {protocol} {moment}")
    assert result.rc == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "200", result.stdout + result.stderr
    # The reload goes on after the request: hypercorn starts its new workers once the old ones are gone, and
    # requests wait for them meanwhile (a check at once timed out after 15 s on a busy host, in s19).
    deadline = time.monotonic() + BACK_WITHIN_S
    while (answer := curl_status(host, f"{DIRECT}/health/")) != "200" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert answer == "200", f"hypercorn did not answer {BACK_WITHIN_S} s after the reload began: {answer}"
