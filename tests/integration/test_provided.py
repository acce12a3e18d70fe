"""certificates_source 'provided': the user's certificate is served, bad ones are refused.

molecule/provided/prepare.yml makes, on the controller, a CA, a certificate
it signed for the demo's names with its key, another key, and a certificate
for another name. The scenario's server is hypercorn terminating TLS itself,
so both nginx and hypercorn must serve the provided certificate, under the
one profile the scenario deploys (Mozilla's intermediate, molecule.yml).
"""

import os
from pathlib import Path

import pytest
from conftest import CA_FILE, TLS_DIR, TLS_PORTS, TLS_PROFILE, run_site, sslyze, tls_1_2
from cryptography import x509

pytestmark = pytest.mark.provided

PROVIDED = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "provided"
FULLCHAIN = f"{TLS_DIR}/fullchain.pem"


def provided_vars(**changes: str) -> dict:
    """The scenario's variables (molecule/provided/converge.yml), with some changed."""
    values = {
        "certificates_source": "provided",
        "certificates_provided_certificate_src": str(PROVIDED / "site.pem"),
        "certificates_provided_chain_src": str(PROVIDED / "ca.pem"),
        "certificates_provided_key": (PROVIDED / "site.key").read_text(),
        "nginx_proxy_tls_profile": TLS_PROFILE,
    }
    return {**values, **changes}


def provided_serial() -> int:
    return x509.load_pem_x509_certificate((PROVIDED / "site.pem").read_bytes()).serial_number


def served_serial(host, port: int) -> int:
    pem = host.check_output(
        f"openssl s_client -connect 127.0.0.1:{port} -servername localhost -CAfile {PROVIDED_CA_ON_HOST}"
        " -verify_return_error </dev/null 2>/dev/null | openssl x509"
    )
    return x509.load_pem_x509_certificate(pem.encode()).serial_number


# The chain the user gave, which the role installs as the host's CA file.
PROVIDED_CA_ON_HOST = CA_FILE


def test_the_host_trusts_the_users_ca(host):
    assert host.file(PROVIDED_CA_ON_HOST).content_string.strip() == (PROVIDED / "ca.pem").read_text().strip()


@pytest.mark.parametrize("port", TLS_PORTS, ids=lambda port: f"port {port}")
def test_nginx_and_hypercorn_serve_the_provided_certificate(host, port):
    assert served_serial(host, port) == provided_serial()


@pytest.mark.parametrize("port", TLS_PORTS, ids=lambda port: f"port {port}")
def test_every_tls_port_passes_mozillas_intermediate_profile(host, port):
    """One profile for every TLS port: TLS 1.2 and 1.3, the guideline's groups, ECDHE with AES-GCM or
    ChaCha20 and no CBC cipher (sslyze, guideline 6.0), on nginx's port and on hypercorn's own."""
    assert TLS_PROFILE == "intermediate", "the scenario deploys the intermediate profile (molecule.yml)"
    result = sslyze(host, port, TLS_PROFILE)
    assert result.returncode == 0 and "OK - Compliant" in result.stdout, result.stdout[-3000:]

    url = f"https://localhost:{port}/"
    assert tls_1_2(host, url, "--ciphers ECDHE-ECDSA-AES128-GCM-SHA256").rc == 0, f"port {port} refuses TLS 1.2"
    assert tls_1_2(host, url, "--ciphers ECDHE-ECDSA-AES128-SHA").rc != 0, f"port {port} accepts a CBC cipher"


def test_key_is_the_provided_one(host):
    key = host.file(f"{TLS_DIR}/privkey.pem")
    assert key.mode == 0o640
    assert key.content_string.strip() == (PROVIDED / "site.key").read_text().strip()


REFUSED = {
    "mismatched_key": (
        {"certificates_provided_key": (PROVIDED / "other.key").read_text() if PROVIDED.exists() else ""},
        ["does not match the certificate", "certificates_provided_certificate_src", "Nothing was replaced"],
    ),
    "wrong_name": (
        {"certificates_provided_certificate_src": str(PROVIDED / "wrong-name.pem")},
        ["does not cover 'localhost'", "DNS:www.example.org", "Nothing was replaced"],
    ),
    "missing_file": (
        {"certificates_provided_chain_src": str(PROVIDED / "absent.pem")},
        ["certificates_provided_chain_src", "not a file on the controller"],
    ),
    "key_given_twice": (
        {"certificates_provided_key_src": str(PROVIDED / "site.key")},
        ["certificates_provided_key", "not both"],
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_bad_certificates_are_refused_and_nothing_is_replaced(host, case):
    before = host.file(FULLCHAIN).sha256sum, host.file(f"{TLS_DIR}/privkey.pem").sha256sum
    changes, expected = REFUSED[case]
    result = run_site(provided_vars(**changes))
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, f"{case} was accepted"
    for text in expected:
        assert text in output, f"{case}: '{text}' not in the error:\n{output[-3000:]}"
    assert (host.file(FULLCHAIN).sha256sum, host.file(f"{TLS_DIR}/privkey.pem").sha256sum) == before
    assert served_serial(host, 443) == provided_serial()
