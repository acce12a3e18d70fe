"""certificates_source 'acme' against Pebble, a real ACME server on the test network.

Pebble (molecule/acme) validated the HTTP-01 challenge by fetching the token
from the target's nginx during converge. The tests check the chain against
Pebble's root, the renewal timer and its service, and a forced renewal under a
busy site's load (Pebble reuses the valid authorization, so it does not
validate again), and a deploy at the highest verbosity that shows neither the
account key, given as text as from a vault, nor the certificate's key.
"""

import os
import time

import pytest
import yaml
from conftest import (
    AT_VVVV,
    KEY_GROUP,
    ROOT,
    TLS_DIR,
    TLS_PORTS,
    assert_nothing_dropped,
    exposure,
    run_playbook,
    under_load,
    where,
)

pytestmark = pytest.mark.acme

DISTRO = os.environ.get("ASGI_STACK_DISTRO", "debian12")
PEBBLE = f"asgi-acme-pebble-{DISTRO}"
# The role's paths for the certificate 'site' (roles/certificates/vars/main.yml).
ACME_DIR = "/etc/asgi-stack/acme/site"
RENEW = "/usr/local/sbin/asgi-stack-acme-site"
TIMER = "asgi-stack-acme-site.timer"
SERVICE = "asgi-stack-acme-site.service"
PEBBLE_ROOT = "/tmp/pebble-root.pem"
PORTS = TLS_PORTS
# The scenario's variables, as its converge gives them to site.yml.
CONVERGE_VARS = yaml.safe_load((ROOT / "molecule" / "acme" / "converge.yml").read_text())[0]["vars"]


@pytest.fixture(scope="module")
def name(host) -> str:
    return host.check_output("hostname")


@pytest.fixture(scope="module")
def pebble_root(host) -> str:
    """Pebble's root CA, which it makes at start and publishes on its management port."""
    host.check_output(
        f"curl -sS --fail --cacert {ACME_DIR}/directory-ca.pem -o {PEBBLE_ROOT} https://{PEBBLE}:15000/roots/0"
    )
    return PEBBLE_ROOT


def served_serial(host, name: str, port: int, root: str) -> str:
    """The serial of the certificate served on the port, after verifying its chain and name."""
    return host.check_output(
        f"openssl s_client -connect 127.0.0.1:{port} -servername {name} -verify_hostname {name} -CAfile {root}"
        " -verify_return_error </dev/null 2>/dev/null | openssl x509 -noout -serial"
    )


def nginx_pid(host) -> str:
    return host.check_output("systemctl show -p MainPID --value nginx.service")


@pytest.mark.parametrize("port", PORTS, ids=lambda port: f"port {port}")
def test_chain_verifies_against_pebbles_root(host, name, pebble_root, port):
    result = host.run(
        f"curl -sS -o /dev/null -w '%{{http_code}}' --cacert {pebble_root}"
        f" --resolve {name}:{port}:127.0.0.1 https://{name}:{port}/"
    )
    assert result.rc == 0, result.stderr
    assert result.stdout == "200"
    assert served_serial(host, name, port, pebble_root)


def test_nginx_answers_challenges_over_plain_http(host, name):
    host.check_output("echo token-body > /var/lib/asgi-stack/acme-challenge/probe")
    result = host.run(f"curl -sS -i http://{name}/.well-known/acme-challenge/probe")
    host.run("rm -f /var/lib/asgi-stack/acme-challenge/probe")
    assert result.stdout.startswith("HTTP/1.1 200")
    assert "token-body" in result.stdout
    assert host.run(f"curl -sS -o /dev/null -w '%{{http_code}}' http://{name}/").stdout == "301"


def test_renewal_timer_is_active(host):
    assert host.run(f"systemctl is-enabled {TIMER}").stdout.strip() == "enabled"
    assert host.run(f"systemctl is-active {TIMER}").stdout.strip() == "active"
    assert host.check_output(f"systemctl show -p NextElapseUSecRealtime --value {TIMER}")


def test_systemd_analyze_security_scores_the_renewal_2_0_or_lower(host):
    assert exposure(host, SERVICE) <= 2.0


def test_renewal_service_renews_only_when_due(host, name, pebble_root):
    """The timer's service, sandboxed as it runs from the timer, leaves a fresh certificate alone."""
    before = served_serial(host, name, 443, pebble_root)
    since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
    result = host.run(f"systemctl start {SERVICE}")
    assert result.rc == 0, result.stderr
    assert host.check_output(f"systemctl show -p Result --value {SERVICE}") == "success"
    assert "Skipping renew" in host.check_output(f"journalctl -u {SERVICE} --since '{since}' --no-pager -o cat")
    assert served_serial(host, name, 443, pebble_root) == before


def test_forced_renewal_swaps_the_certificate_without_downtime(host, name, pebble_root):
    before = served_serial(host, name, 443, pebble_root)
    pid = nginx_pid(host)
    # Requests run back to back on each TLS port, through the renewal and the
    # reloads after it, until the stop file appears.
    host.check_output("rm -f /tmp/acme-load-* /tmp/acme-stop")
    for port in PORTS:
        client = (
            f'curl -s -o /dev/null -w "%{{http_code}}\\n" --cacert {pebble_root} --resolve {name}:{port}:127.0.0.1'
            f" https://{name}:{port}/health/"
        )
        host.check_output(
            f"nohup sh -c 'while [ ! -e /tmp/acme-stop ]; do {client}; done >> /tmp/acme-load-{port}' >/dev/null 2>&1 &"
        )
    time.sleep(1)
    # And a busy site's load through nginx (loadgen.py): uploads, streams and
    # WebSockets in flight as nginx, and hypercorn on its own TLS port, reload.
    with under_load(host, "forced certificate renewal", "busy", f"https://{name}", pebble_root) as totals:
        renewal = host.run(f"{RENEW} --force")
        time.sleep(3)
    host.check_output("touch /tmp/acme-stop; sleep 1")

    assert renewal.rc == 0, renewal.stdout + renewal.stderr
    assert "Creating fullchain.pem" in renewal.stdout
    after = served_serial(host, name, 443, pebble_root)
    assert after != before
    assert nginx_pid(host) == pid, "nginx was restarted"
    for port in PORTS:
        codes = host.file(f"/tmp/acme-load-{port}").content_string.split()
        failed = [code for code in codes if code != "200"]
        print(f"port {port}: {len(codes)} requests during the forced renewal, {len(failed)} failed")
        assert len(codes) > 20
        assert not failed, f"port {port}: {failed}"
        assert served_serial(host, name, port, pebble_root) == after
    assert_nothing_dropped(totals, "busy")
    assert totals["unanswered"] == 0, totals["unanswered_samples"]


def test_keys_are_for_root_and_the_services_only(host):
    key = host.file(f"{TLS_DIR}/privkey.pem")
    assert (key.user, key.group, key.mode) == ("root", KEY_GROUP, 0o640)
    account = host.file(f"{ACME_DIR}/account.key")
    assert (account.user, account.group, account.mode) == ("root", "root", 0o600)


def test_a_deploy_at_the_highest_verbosity_shows_no_key(host):
    """The account key given as text (as it comes from a vault) and the certificate's key: none of their
    lines shows in the output of a deploy run with -vvvv, which installs the given account key."""
    account_key = host.file(f"{ACME_DIR}/account.key").content_string
    certificate_key = host.file(f"{TLS_DIR}/privkey.pem").content_string
    result = run_playbook("site.yml", {**CONVERGE_VARS, "certificates_acme_account_key": account_key}, "-vvvv")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert AT_VVVV in output, "not the output of -vvvv"
    for name, key in {"account key": account_key, "certificate key": certificate_key}.items():
        # Each line of the key's body, so that a key printed with its line breaks escaped is found too.
        body = [line for line in key.strip().splitlines() if not line.startswith("-----")]
        assert len(body) > 2, f"the {name} is not PEM: {key[:30]}"
        shown = [where(output, line) for line in body if where(output, line)]
        assert not shown, f"the {name} in the output: {shown[0]}"
    assert host.file(f"{ACME_DIR}/account.key").content_string == account_key
