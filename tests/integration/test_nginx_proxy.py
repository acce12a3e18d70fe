"""What a client sees through nginx: TLS, HTTP/2, redirects, WebSockets, static files."""

import os
import time

import pytest
from conftest import CA_FILE, KIND, ORIGIN, SERVICES, SOCKETS, UNIT, curl, curl_http3, curl_json

pytestmark = pytest.mark.nginx_proxy

WEBSOCKET_CLIENT = """
import asyncio, ssl, sys
import websockets

async def main():
    context = ssl.create_default_context(cafile=sys.argv[2])
    async with websockets.connect(sys.argv[1], ssl=context, origin="https://localhost") as ws:
        await ws.send("ping over wss")
        print(await asyncio.wait_for(ws.recv(), 10))

asyncio.run(main())
"""


def test_page_is_served_over_https_with_a_verified_chain(host):
    response = curl(host, f"{ORIGIN}/")
    assert response.status == 200
    assert "asgi.stack demo" in response.body


def test_http_redirects_to_https(host):
    response = curl(host, "http://localhost/whoami/?x=1")
    assert response.status == 301
    assert response.headers["location"] == "https://localhost/whoami/?x=1"


def test_http2_is_negotiated(host):
    assert curl(host, f"{ORIGIN}/", "--http2").http_version == "2"


def nginx_speaks_http3(host) -> bool:
    build = host.run("nginx -V").stderr
    version = tuple(int(part) for part in build.split("nginx/")[1].split()[0].split("."))
    return "--with-http_v3_module" in build and version >= (1, 25)


def test_http3_where_nginx_can_and_only_there(host):
    headers = curl(host, f"{ORIGIN}/").headers
    if nginx_speaks_http3(host):
        assert headers["alt-svc"] == 'h3=":443"; ma=86400'
        response = curl_http3(host, f"{ORIGIN}/")
        assert response.status == 200
        assert response.http_version == "3"
        assert "asgi.stack demo" in response.body
    else:
        assert "alt-svc" not in headers
        assert host.run("nginx -T 2>/dev/null | grep -E '^\\s*listen .*quic'").rc == 1


def test_tls_below_1_3_is_refused_by_the_modern_profile(host):
    result = host.run(f"curl -sS --cacert {CA_FILE} --tlsv1.2 --tls-max 1.2 -o /dev/null {ORIGIN}/")
    assert result.rc != 0


def test_hsts_and_nosniff_headers_are_sent(host):
    headers = curl(host, f"{ORIGIN}/").headers
    assert headers["strict-transport-security"].startswith("max-age=")
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["server"] == "nginx", "nginx must not tell its version"


@pytest.mark.parametrize("path", ["/", "/health/", "/upload/", "/static/core/site.css", "/no-such-page/"])
def test_no_response_header_is_sent_twice(host, path):
    # nginx sets the security headers on every response; the app's own copies
    # (Django's SecurityMiddleware sends nosniff too) are hidden.
    names = [name for name, _value in curl(host, f"{ORIGIN}{path}").header_lines if name != "set-cookie"]
    assert "x-content-type-options" in names
    assert sorted({name for name in names if names.count(name) > 1}) == []


def test_django_sees_https_and_the_real_client_address(host):
    seen = curl_json(host, f"{ORIGIN}/whoami/")
    assert seen["scheme"] == "https"
    assert seen["is_secure"] is True
    assert seen["client"] == "127.0.0.1"


def test_client_address_is_the_real_one_over_the_network(host):
    address = host.check_output("hostname -I").split()[0]
    seen = curl_json(host, f"{ORIGIN}/whoami/", "--resolve", f"localhost:443:{address}")
    assert seen["client"] == address


def test_client_cannot_spoof_its_address_or_scheme(host):
    seen = curl_json(
        host,
        f"{ORIGIN}/whoami/",
        "-H",
        "X-Forwarded-For: 198.51.100.9",
        "-H",
        "X-Forwarded-Proto: http",
        "-H",
        "Daphne-Root-Path: /evil",
    )
    assert seen["path"] == "/whoami/"
    assert seen["script_name"] == ""
    assert seen["client"] == "127.0.0.1"
    assert seen["scheme"] == "https"


def test_websocket_echo_round_trip_over_wss(host):
    host.run(f"cat > /tmp/ws_client.py <<'PY'\n{WEBSOCKET_CLIENT}\nPY")
    result = host.run(f"python3 /tmp/ws_client.py wss://localhost/ws/echo/ {CA_FILE}")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "ping over wss"


def test_static_file_has_caching_headers(host):
    response = curl(host, f"{ORIGIN}/static/core/site.css")
    assert response.status == 200
    assert response.headers["content-type"] == "text/css"
    assert "max-age=" in response.headers["cache-control"]
    assert "asgi.stack demo stylesheet" in response.body


def test_static_file_is_served_by_nginx_not_django(host):
    units = " ".join(SERVICES + ([] if KIND == "daphne" else [f"{UNIT}.socket"]))
    host.run(f"systemctl stop {units}")
    try:
        assert curl(host, f"{ORIGIN}/").status == 502
        assert curl(host, f"{ORIGIN}/static/core/site.css").status == 200
    finally:
        host.run(f"systemctl start {units}")
    deadline = time.monotonic() + 30
    while curl(host, f"{ORIGIN}/health/").status != 200 and time.monotonic() < deadline:
        time.sleep(1)
    assert curl(host, f"{ORIGIN}/health/").status == 200


def test_media_files_are_served_from_media_root(host):
    host.run("echo uploaded > /srv/demo/shared/media/upload.txt")
    response = curl(host, f"{ORIGIN}/media/upload.txt")
    assert response.status == 200
    assert response.body.strip() == "uploaded"


def test_nginx_proxies_to_the_chosen_kinds_sockets_only(host):
    site = host.file("/etc/nginx/sites-available/demo.conf").content_string
    # The upstream block includes its server list, a file of its own.
    upstream = site[site.index("upstream ") :].split("}", 1)[0]
    (included,) = [line.split()[1].rstrip(";") for line in upstream.splitlines() if line.strip().startswith("include ")]
    listed = host.file(included).content_string
    servers = [line.split()[1] for line in listed.splitlines() if line.strip().startswith("server ")]
    # Each socket is listed three times (see nginx_proxy's site.conf.j2).
    assert servers == [f"unix:{socket}" for socket in SOCKETS * 3]


def test_configuration_passes_nginx_t(host):
    assert host.run("nginx -t").rc == 0


def test_broken_site_is_refused_before_it_replaces_the_live_one(host):
    site = "/etc/nginx/sites-available/demo.conf"
    host.run("printf 'server { listen 443 ssl; bogus_directive on; }\\n' > /tmp/broken.conf")
    result = host.run(f"/usr/local/sbin/asgi-stack-nginx-check {site} /tmp/broken.conf")
    assert result.rc != 0
    assert "bogus_directive" in result.stderr
    assert host.run(f"/usr/local/sbin/asgi-stack-nginx-check {site} {site}").rc == 0


@pytest.mark.skipif(
    os.environ.get("MOLECULE_SCENARIO_NAME") != "nginx_proxy",
    reason="the site's extra directives and locations are set in the nginx_proxy scenario",
)
def test_extra_directives_and_locations_extend_the_site(host):
    robots = curl(host, f"{ORIGIN}/robots.txt")
    assert robots.status == 200
    assert robots.body == "User-agent: *\nDisallow: /admin/\n"
    assert robots.headers["content-type"] == "text/plain"
    # The server's own headers still reach a location without add_header of its own.
    assert robots.headers["x-asgi-stack-extra"] == "server"
    assert "strict-transport-security" in robots.headers
    # The app's pages, through the server, get the server-level header too.
    page = curl(host, f"{ORIGIN}/")
    assert page.status == 200 and "asgi.stack demo" in page.body
    assert page.headers["x-asgi-stack-extra"] == "server"
