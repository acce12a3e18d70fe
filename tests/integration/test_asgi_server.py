"""The ASGI server as asgi_server runs it: units, socket, processes, restarts."""

import json
import time

import pytest
from conftest import APP, ENV_FILE, SOCKET, UNIT

pytestmark = pytest.mark.asgi_server

from test_django_app import TRICKY_SECRET  # noqa: E402


def through_socket(host, path: str, *headers: str) -> dict:
    options = " ".join(f"-H '{header}'" for header in headers)
    result = host.run(f"curl -sS --max-time 10 --unix-socket {SOCKET} {options} http://localhost{path}")
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


def test_socket_and_service_are_enabled_and_running(host):
    for unit in (f"{UNIT}.socket", f"{UNIT}.service"):
        service = host.service(unit)
        assert service.is_enabled, unit
        assert service.is_running, unit


def test_socket_only_admits_root_and_nginx(host):
    socket = host.file(SOCKET)
    assert socket.is_socket
    assert socket.user == "root"
    assert socket.group == "www-data"
    assert socket.mode == 0o660


def test_every_server_process_runs_as_the_app_user(host, main_pid):
    processes = host.process.filter(ppid=main_pid) + [host.process.get(pid=main_pid)]
    assert len(processes) >= 2, "gunicorn runs no workers"
    assert {process.user for process in processes} == {APP}
    assert "uvicorn_worker.UvicornWorker" in host.process.get(pid=main_pid).args


def test_workers_default_to_two_per_cpu_plus_one(host, main_pid):
    cpus = int(host.check_output("nproc"))
    assert len(host.process.filter(ppid=main_pid)) == 2 * cpus + 1


def test_health_answers_over_the_socket(host):
    health = through_socket(host, "/health/")
    assert health["status"] == "ok"
    assert health["migrations_applied"] is True


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
    show = host.check_output(
        f"systemctl show {UNIT}.service -p ProtectSystem -p NoNewPrivileges -p PrivateTmp -p User"
    )
    assert "ProtectSystem=strict" in show
    assert "NoNewPrivileges=yes" in show
    assert "PrivateTmp=yes" in show
    assert f"User={APP}" in show


def test_restarting_the_server_keeps_its_listening_socket(host):
    before = host.check_output(f"stat -c %i {SOCKET}")
    assert host.run(f"systemctl restart {UNIT}.service").rc == 0
    assert host.check_output(f"stat -c %i {SOCKET}") == before
    assert through_socket(host, "/health/")["status"] == "ok"


def test_server_restarts_after_it_is_killed(host):
    main_pid = int(host.check_output(f"systemctl show -p MainPID --value {UNIT}.service"))
    assert main_pid > 0
    assert host.run(f"kill -9 {main_pid}").rc == 0
    deadline = time.monotonic() + 30
    new_pid = 0
    while time.monotonic() < deadline:
        new_pid = int(host.check_output(f"systemctl show -p MainPID --value {UNIT}.service"))
        if new_pid not in (0, main_pid) and host.service(f"{UNIT}.service").is_running:
            break
        time.sleep(1)
    assert new_pid not in (0, main_pid), "systemd did not restart the server"
    assert through_socket(host, "/health/")["status"] == "ok"


def test_unit_that_cannot_start_is_refused_before_it_is_installed(host):
    unit = f"/etc/systemd/system/{UNIT}.service"
    host.run(f"sed 's#^ExecStart=[^ ]*#ExecStart=/nonexistent/gunicorn#' {unit} > /tmp/broken.service")
    result = host.run(f"/usr/local/sbin/asgi-stack-unit-check {UNIT}.service /tmp/broken.service")
    assert result.rc != 0
    assert "/nonexistent/gunicorn" in result.stderr
    assert host.run(f"/usr/local/sbin/asgi-stack-unit-check {UNIT}.service {unit}").rc == 0
