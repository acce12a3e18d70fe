"""certificates_source 'provided': the user's certificate is served, bad ones are refused.

molecule/provided/prepare.yml makes, on the controller, a CA, a certificate
it signed for the demo's names with its key, another key, and a certificate
for another name. The scenario's server is hypercorn terminating TLS itself,
so both nginx and hypercorn must serve the provided certificate.
"""

import os
from pathlib import Path

import pytest
from conftest import SERVER_TLS, TLS_DIR, run_site
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
PROVIDED_CA_ON_HOST = f"{TLS_DIR}/ca.pem"


def test_the_host_trusts_the_users_ca(host):
    assert host.file(PROVIDED_CA_ON_HOST).content_string.strip() == (PROVIDED / "ca.pem").read_text().strip()


@pytest.mark.parametrize("port", [443, 8443] if SERVER_TLS else [443], ids=lambda port: f"port {port}")
def test_nginx_and_hypercorn_serve_the_provided_certificate(host, port):
    assert served_serial(host, port) == provided_serial()


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
