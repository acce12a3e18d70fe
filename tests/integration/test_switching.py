"""Changing asgi_server_kind and running the playbook again replaces the server."""

import pytest
from conftest import APP, KINDS, ORIGIN, curl, curl_json, run_site

pytestmark = pytest.mark.switching

# Every kind follows every other at least once, ending where converge began.
SEQUENCE = ("daphne", "hypercorn", "uvicorn", "gunicorn_uvicorn")


def unit_of(kind: str) -> str:
    return f"{APP}-{kind.replace('_', '-')}"


@pytest.mark.parametrize("kind", SEQUENCE)
def test_switching_leaves_exactly_the_new_server(host, kind):
    result = run_site({"asgi_server_kind": kind})
    assert result.returncode == 0, result.stdout[-4000:]

    unit = unit_of(kind)
    units = sorted(name for name in host.check_output("ls /etc/systemd/system").split() if name.startswith(f"{APP}-"))
    assert units == [f"{unit}.service"] + ([] if kind == "daphne" else [f"{unit}.socket"])
    for other in set(KINDS) - {kind}:
        assert not host.file(f"/run/{unit_of(other)}").exists, other
        assert not host.file(f"/etc/tmpfiles.d/{unit_of(other)}.conf").exists, other
        assert host.run(f"systemctl is-active {unit_of(other)}.service").stdout.strip() != "active", other
    assert host.service(f"{unit}.service").is_running

    site = host.file("/etc/nginx/sites-available/demo.conf").content_string
    assert f"server unix:/run/{unit}/asgi.sock;" in site
    assert curl(host, f"{ORIGIN}/").status == 200
    seen = curl_json(host, f"{ORIGIN}/whoami/")
    assert (seen["scheme"], seen["client"]) == ("https", "127.0.0.1")
    assert {process.user for process in host.process.filter(user=APP)} == {APP}
