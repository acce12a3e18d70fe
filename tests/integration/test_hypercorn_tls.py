"""hypercorn terminating TLS itself: HTTP/1.1, HTTP/2 and HTTP/3 straight to it.

In the test inventory hypercorn serves nginx's socket and also its own TLS
port (asgi_server_tls), with the certificate the certificates role made.
"""

import pytest
from conftest import SERVER_TLS, UNIT, curl, curl_json

pytestmark = [
    pytest.mark.asgi_server,
    pytest.mark.skipif(not SERVER_TLS, reason="only hypercorn terminates TLS itself"),
]

# The role's default port for hypercorn's own TLS.
DIRECT = "https://localhost:8443"


def curl_speaks_http3(host) -> bool:
    return "HTTP3" in host.check_output("curl --version")


@pytest.mark.parametrize("option, version", [("--http1.1", "1.1"), ("--http2", "2")])
def test_page_over_tcp_straight_from_hypercorn(host, option, version):
    response = curl(host, f"{DIRECT}/", option)
    assert response.status == 200
    assert response.http_version == version
    assert response.headers["server"].startswith("hypercorn-")
    assert "asgi.stack demo" in response.body


def test_alt_svc_advertises_quic_on_the_public_port(host):
    assert curl(host, f"{DIRECT}/").headers["alt-svc"] == 'h3=":8443"; ma=86400'


def test_page_over_http3_straight_from_hypercorn(host):
    if not curl_speaks_http3(host):
        pytest.skip("this distribution's curl has no HTTP/3")
    response = curl(host, f"{DIRECT}/", "--http3-only")
    assert response.status == 200
    assert response.http_version == "3"
    assert response.headers["server"] == "hypercorn-h3"
    assert "asgi.stack demo" in response.body


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
    assert "8443 (Datagram)" in listen
