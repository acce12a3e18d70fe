"""Changing asgi_server_kind and running the playbook again replaces the server."""

import pytest
from conftest import APP, KINDS, ORIGIN, curl, curl_json, run_site, services_of, sockets_of, unit_files_of, unit_of

pytestmark = pytest.mark.switching

# Every kind follows every other at least once, ending where converge began.
SEQUENCE = ("daphne", "hypercorn", "uvicorn", "gunicorn_uvicorn")


@pytest.mark.parametrize("kind", SEQUENCE)
def test_switching_leaves_exactly_the_new_server(host, kind):
    result = run_site({"asgi_server_kind": kind})
    assert result.returncode == 0, result.stdout[-4000:]

    units = sorted(name for name in host.check_output("ls /etc/systemd/system").split() if name.startswith(f"{APP}-"))
    assert units == sorted(unit_files_of(kind))
    for other in set(KINDS) - {kind}:
        assert not host.file(f"/run/{unit_of(other)}").exists, other
        assert not host.file(f"/etc/tmpfiles.d/{unit_of(other)}.conf").exists, other
        for service in services_of(other):
            assert host.run(f"systemctl is-active {service}").stdout.strip() != "active", service
    assert all(host.service(service).is_running for service in services_of(kind))
    # hypercorn's helpers go with it.
    for helper in ("/usr/local/lib/asgi-stack/python", "/usr/local/sbin/asgi-stack-hypercorn-signal"):
        assert host.file(helper).exists == (kind == "hypercorn"), helper

    site = host.file("/etc/nginx/sites-available/demo.conf").content_string
    servers = [line.split()[1] for line in site.splitlines() if line.strip().startswith("server unix:")]
    sockets = sockets_of(kind)
    # Each socket is listed three times (see nginx_proxy's site.conf.j2).
    assert servers == [f"unix:{socket}" for socket in sockets * 3]
    assert curl(host, f"{ORIGIN}/").status == 200
    seen = curl_json(host, f"{ORIGIN}/whoami/")
    assert (seen["scheme"], seen["client"]) == ("https", "127.0.0.1")
    assert {process.user for process in host.process.filter(user=APP)} == {APP}
