"""What a client sees through nginx: TLS, HTTP/2, redirects, WebSockets, static files, uploads."""

import json
import os
import re
import time
import uuid

import pytest
from conftest import (
    CA_FILE,
    KIND,
    KINDS,
    ORIGIN,
    SERVICES,
    SOCKETS,
    TLS_PROFILE,
    curl,
    curl_http3,
    curl_json,
    exposure,
    manage,
    run_client,
    sslyze,
    tls_1_2,
)
from loadgen import STATIC_FILE as STYLESHEET

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


@pytest.mark.switch
def test_page_is_served_over_https_with_a_verified_chain(host):
    response = curl(host, f"{ORIGIN}/")
    assert response.status == 200
    assert "asgi.stack demo" in response.body


def test_http_redirects_to_https(host):
    response = curl(host, "http://localhost/whoami/?x=1")
    assert response.status == 301
    assert response.headers["location"] == "https://localhost/whoami/?x=1"


@pytest.mark.switch
def test_an_http_1_1_answer_carries_its_status_and_reason_phrase(host):
    """A client's parser may record the status only with its phrase: Debian 12's h2load counted hypercorn's
    answers without one ("HTTP/1.1 200 ", which nginx passes on as it is) as failures, every one of them."""
    assert curl(host, f"{ORIGIN}/whoami/", "--http1.1").status_line == "HTTP/1.1 200 OK"


@pytest.mark.switch
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


def test_tls_1_2_as_the_profile_says(host):
    """modern: no TLS 1.2 at all; intermediate: TLS 1.2 with ECDHE and AES-GCM, and no CBC cipher."""
    if TLS_PROFILE == "modern":
        assert tls_1_2(host, f"{ORIGIN}/").rc != 0
    else:
        assert tls_1_2(host, f"{ORIGIN}/", "--ciphers ECDHE-ECDSA-AES128-GCM-SHA256").rc == 0
        assert tls_1_2(host, f"{ORIGIN}/", "--ciphers ECDHE-ECDSA-AES128-SHA").rc != 0


@pytest.mark.skipif(KIND != KINDS[0], reason="nginx's TLS is the same for every kind: checked with the first")
def test_nginx_passes_mozillas_profile(host):
    """The deployed profile's protocols and ciphers, the guideline's groups (not X448 or secp521r1), ECDSA."""
    result = sslyze(host, 443, TLS_PROFILE)
    assert result.returncode == 0 and "OK - Compliant" in result.stdout, result.stdout[-3000:]
    # sslyze knows no post-quantum group: where OpenSSL has it (3.5 and later, Debian 13), a client
    # that offers X25519MLKEM768 alone gets it.
    version = tuple(int(part) for part in host.check_output("openssl version").split()[1].split(".")[:2])
    if version >= (3, 5):
        hybrid = host.run(
            f"openssl s_client -groups X25519MLKEM768 -connect localhost:443 -servername localhost"
            f" -CAfile {CA_FILE} -brief </dev/null"
        )
        assert hybrid.rc == 0 and "X25519MLKEM768" in hybrid.stderr + hybrid.stdout, hybrid.stderr


def test_hsts_and_nosniff_headers_are_sent(host):
    headers = curl(host, f"{ORIGIN}/").headers
    assert headers["strict-transport-security"].startswith("max-age=")
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["server"] == "nginx", "nginx must not tell its version"


@pytest.mark.parametrize("path", ["/", "/health/", "/upload/", STYLESHEET, "/no-such-page/"])
def test_no_response_header_is_sent_twice(host, path):
    # nginx sets the security headers on every response; the app's own copies
    # (Django's SecurityMiddleware sends nosniff too) are hidden.
    names = [name for name, _value in curl(host, f"{ORIGIN}{path}").header_lines if name != "set-cookie"]
    assert "x-content-type-options" in names
    assert sorted({name for name in names if names.count(name) > 1}) == []


@pytest.mark.switch
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


@pytest.mark.switch
def test_websocket_echo_round_trip_over_wss(host):
    result = run_client(host, "ws_client", WEBSOCKET_CLIENT, "wss://localhost/ws/echo/", CA_FILE)
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "ping over wss"


LARGE_MESSAGE_CLIENT = """
import asyncio, json, ssl, sys
import websockets

async def main():
    context = ssl.create_default_context(cafile=sys.argv[2])
    size = int(sys.argv[3])
    async with websockets.connect(sys.argv[1], ssl=context, origin="https://localhost", max_size=None) as ws:
        await ws.send("x" * size)
        try:
            answer = await asyncio.wait_for(ws.recv(), 20)
            print(json.dumps({"echoed": len(answer)}))
        except websockets.ConnectionClosed as closed:
            print(json.dumps({"closed": closed.rcvd.code if closed.rcvd else None}))

asyncio.run(main())
"""


def websocket_message(host, size: int) -> dict:
    result = run_client(host, "ws_large", LARGE_MESSAGE_CLIENT, "wss://localhost/ws/echo/", CA_FILE, size)
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


def test_a_websocket_message_over_the_limit_closes_the_connection_and_the_server_stays_up(host):
    """asgi_server_websocket_max_message_size (1 MiB by default) holds for every kind: the message is refused.

    The connection closes with 1009 (message too big), or, with daphne, is dropped without a close frame
    (autobahn fails a connection by dropping it).
    """
    assert websocket_message(host, 512 * 1024) == {"echoed": 512 * 1024}
    refused = websocket_message(host, 2 * 1024 * 1024)
    print(f"a 2 MiB message to {KIND}: {refused}")
    assert refused in ({"closed": 1009}, {"closed": None}), refused
    assert curl(host, f"{ORIGIN}/health/").status == 200
    assert websocket_message(host, 1024) == {"echoed": 1024}


def test_static_file_has_caching_headers(host):
    response = curl(host, f"{ORIGIN}{STYLESHEET}")
    assert response.status == 200
    assert response.headers["content-type"] == "text/css"
    assert "max-age=" in response.headers["cache-control"]
    assert "asgi.stack demo stylesheet" in response.body


# Decoded on the host with what django_app installed to make the copies
# (Python's brotli module) and with gzip.
BROTLI_DECODER = (
    "python3 -c 'import brotli, sys; sys.stdout.buffer.write(brotli.decompress(open(sys.argv[1], \"rb\").read()))'"
)


@pytest.mark.parametrize(("encoding", "decoder"), [("br", BROTLI_DECODER), ("gzip", "gzip -dc")])
def test_static_files_go_compressed_to_clients_that_accept_it(host, encoding, decoder):
    """The copies made at deploy (django_app_precompress_static) go as they are: smaller, the same once decoded."""
    plain = curl(host, f"{ORIGIN}{STYLESHEET}")
    assert plain.status == 200
    assert "content-encoding" not in plain.headers
    packed = curl(host, f"{ORIGIN}{STYLESHEET}", "--header", f"Accept-Encoding: {encoding}", "--output", "/tmp/packed")
    assert packed.status == 200
    assert packed.headers["content-encoding"] == encoding
    assert packed.headers["content-type"] == "text/css"
    # Caches keep one copy per encoding; no header goes twice.
    for response in (plain, packed):
        assert response.headers["vary"] == "Accept-Encoding"
        names = [name for name, _value in response.header_lines]
        assert sorted({name for name in names if names.count(name) > 1}) == []
    size = int(host.check_output("stat -c %s /tmp/packed"))
    assert size < len(plain.body.encode()) * 0.7, f"{encoding}: {size} bytes of {len(plain.body.encode())}"
    assert host.check_output(f"{decoder} /tmp/packed") == plain.body.strip()


def test_hashed_static_files_are_kept_a_year_and_others_briefly(host):
    """The page links its stylesheet by a name with the content's hash (ManifestStaticFilesStorage): immutable."""
    page = curl(host, f"{ORIGIN}/").body
    found = re.search(r'href="(/static/core/site\.[0-9a-f]{12}\.css)"', page)
    assert found, page
    hashed = curl(host, f"{ORIGIN}{found.group(1)}")
    assert hashed.status == 200
    assert "asgi.stack demo stylesheet" in hashed.body
    assert hashed.headers["cache-control"] == "public, max-age=31536000, immutable"
    plain = curl(host, f"{ORIGIN}{STYLESHEET}")
    assert plain.headers["cache-control"] == "public, max-age=604800"


def csrf_token(form) -> str:
    """The CSRF token of a Django form page."""
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.body).group(1)


def upload(host, mebibytes: int):
    """A file of this size posted through nginx with the demo's upload form (CSRF token and cookie)."""
    host.run(f"head -c {mebibytes * 1024 * 1024} /dev/urandom > /tmp/upload.bin")
    form = curl(host, f"{ORIGIN}/upload/", "--cookie-jar", "/tmp/upload.jar")
    token = csrf_token(form)
    return curl(
        host,
        f"{ORIGIN}/upload/",
        "--cookie",
        "/tmp/upload.jar",
        "--referer",
        f"{ORIGIN}/upload/",
        "--form",
        f"csrfmiddlewaretoken={token}",
        "--form",
        "file=@/tmp/upload.bin",
    )


@pytest.mark.switch
def test_an_upload_of_a_few_mebibytes_goes_through(host):
    response = upload(host, 4)
    assert response.status == 200, response.body
    sent = host.check_output("sha256sum /tmp/upload.bin").split()[0]
    assert json.loads(response.body) == {"size": 4 * 1024 * 1024, "sha256": sent}


def test_an_upload_over_the_body_limit_is_refused_with_413(host):
    """nginx_proxy_client_max_body_size (10m by default): nginx answers 413; the app stays up."""
    assert upload(host, 11).status == 413
    assert curl(host, f"{ORIGIN}/health/").status == 200


@pytest.mark.switch
def test_an_admin_login_and_an_admin_form_post_go_through(host):
    """Django's admin through nginx: a login (a form post with its CSRF token, then the session cookie),
    the admin's index as that user, and a group added with the admin's form."""
    password = f"pw-{uuid.uuid4().hex}"
    group = f"editors-{uuid.uuid4().hex[:8]}"
    made = manage(
        host,
        "shell",
        "-c",
        "from django.contrib.auth.models import User; User.objects.filter(username='ops').delete();"
        f" User.objects.create_superuser('ops', 'ops@example.org', '{password}')",
    )
    assert made.rc == 0, made.stderr
    jar = ("--cookie", "/tmp/admin.jar", "--cookie-jar", "/tmp/admin.jar")
    host.run("rm -f /tmp/admin.jar")

    def token(path: str) -> str:
        form = curl(host, f"{ORIGIN}{path}", *jar)
        assert form.status == 200, form
        return csrf_token(form)

    def post(path: str, **fields: str):
        data = [option for name, value in fields.items() for option in ("--data-urlencode", f"{name}={value}")]
        return curl(host, f"{ORIGIN}{path}", *jar, "--referer", f"{ORIGIN}{path}", *data)

    login = post(
        "/admin/login/?next=/admin/",
        csrfmiddlewaretoken=token("/admin/login/?next=/admin/"),
        username="ops",
        password=password,
        next="/admin/",
    )
    assert (login.status, login.headers.get("location")) == (302, "/admin/"), login.body[-2000:]
    index = curl(host, f"{ORIGIN}/admin/", *jar)
    assert index.status == 200 and "Site administration" in index.body, index.body[-2000:]
    added = post(
        "/admin/auth/group/add/", csrfmiddlewaretoken=token("/admin/auth/group/add/"), name=group, _save="Save"
    )
    assert (added.status, added.headers.get("location")) == (302, "/admin/auth/group/"), added.body[-2000:]
    found = manage(
        host,
        "shell",
        "-c",
        f"from django.contrib.auth.models import Group; print(Group.objects.filter(name='{group}').count())",
    )
    # The last line: Django 5.2's shell first says what it imported.
    assert found.stdout.strip().splitlines()[-1:] == ["1"], found.stdout + found.stderr


def test_static_file_is_served_by_nginx_not_django(host):
    """With every process of the server stopped (SIGSTOP), a page gets no answer and a static file is served.

    Stopped, not ended: its socket still takes nginx's connection, and it goes on at SIGCONT with no restart
    (stopping its units and starting them again cost 4 to 7 s a kind).
    """
    units = " ".join(SERVICES)
    host.run(f"systemctl kill --signal=SIGSTOP {units}")
    try:
        page = host.run(f"curl -sS -o /dev/null --max-time 2 --cacert {CA_FILE} {ORIGIN}/")
        # curl's exit status 28: the time ran out with no answer.
        assert page.rc == 28, f"a page came back with the server stopped: {page.rc} {page.stderr}"
        assert curl(host, f"{ORIGIN}{STYLESHEET}").status == 200
    finally:
        host.run(f"systemctl kill --signal=SIGCONT {units}")
    assert curl(host, f"{ORIGIN}/health/").status == 200


def test_media_files_are_served_from_media_root(host):
    host.run("echo uploaded > /srv/demo/shared/media/upload.txt")
    response = curl(host, f"{ORIGIN}/media/upload.txt")
    assert response.status == 200
    assert response.body.strip() == "uploaded"


@pytest.mark.switch
def test_nginx_proxies_to_the_chosen_kinds_sockets_only(host):
    site = host.file("/etc/nginx/sites-available/demo.conf").content_string
    # The upstream block includes its server list, a file of its own.
    upstream = site[site.index("upstream ") :].split("}", 1)[0]
    (included,) = [line.split()[1].rstrip(";") for line in upstream.splitlines() if line.strip().startswith("include ")]
    listed = host.file(included).content_string
    servers = [line.split()[1] for line in listed.splitlines() if line.strip().startswith("server ")]
    # Each socket is listed three times (see nginx_proxy's site.conf.j2).
    assert servers == [f"unix:{socket}" for socket in SOCKETS * 3]


# Requests through nginx in the test below, and the seconds within which
# nginx's connections to the server must have closed: well under the server's
# keep-alive timeout (asgi_server_keepalive, 5 s), which would close an idle
# connection that nginx kept.
THROUGH_NGINX = 10
CLOSED_WITHIN_S = 1.0


def test_nginx_keeps_no_idle_connection_to_a_server_on_its_host(host):
    """Once nginx has answered, no connection of its to the server's sockets stays open (nginx_proxy_upstream_keepalive
    is 0 for a server on the same host).

    A kept connection can be closed by the server (its keep-alive timeout, a restart) just as nginx sends the next
    request on it: nginx counts that entry of its upstream list as tried, and after three in a row answered 502
    (1 request in about 143,000 under a busy site's load through restarts, by hand; test_zero_downtime.py's list).
    """
    urls = " ".join([f"{ORIGIN}/whoami/"] * THROUGH_NGINX)
    assert host.run(f"curl -sSf -o /dev/null --cacert {CA_FILE} {urls}").rc == 0
    deadline = time.monotonic() + CLOSED_WITHIN_S
    while True:
        still_open = connected_to_sockets(host)
        if not still_open or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not still_open, f"connections to {SOCKETS} still open {CLOSED_WITHIN_S} s on: {still_open}"


def connected_to_sockets(host) -> list[str]:
    """The server's ends of the connections to its sockets whose clients still hold theirs (ss: a peer's inode).

    A server's end whose client has closed (peer 0) waits for the server to notice; it holds nothing for nginx.
    """
    established = host.check_output("ss -xHn state established").splitlines()
    # Fields: netid, receive and send queues, local path and inode, peer path and inode.
    ends = [line.split() for line in established]
    return [" ".join(end) for end in ends if len(end) >= 7 and end[3] in SOCKETS and end[6] != "0"]


def test_systemd_analyze_security_scores_nginx_2_5_or_lower(host):
    """The sandbox, a drop-in beside the distribution's unit: its score printed; the workers still run as www-data."""
    assert exposure(host, "nginx.service") <= 2.5
    assert "/etc/systemd/system/nginx.service.d/asgi-stack-hardening.conf" in host.check_output(
        "systemctl show -p DropInPaths --value nginx.service"
    )
    workers = host.check_output("ps -o user= --ppid $(systemctl show -p MainPID --value nginx.service)").split()
    assert workers and set(workers) == {"www-data"}
    # The master keeps of root's powers only what the drop-in lists (six capabilities).
    master = host.check_output("systemctl show -p MainPID --value nginx.service")
    bounding = int(host.check_output(f"awk '/^CapBnd/ {{print $2}}' /proc/{master}/status"), 16)
    assert bin(bounding).count("1") == 6, hex(bounding)


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
