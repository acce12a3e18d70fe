"""The certificate as certificates issues it: chain, names, key and modes."""

import os

import pytest
from conftest import CA_FILE, KEY_GROUP, TLS_DIR, converge_again

pytestmark = pytest.mark.certificates

FULLCHAIN = f"{TLS_DIR}/fullchain.pem"
PRIVKEY = f"{TLS_DIR}/privkey.pem"


def test_chain_verifies_against_the_local_ca(host):
    result = host.run(f"openssl verify -CAfile {CA_FILE} -purpose sslserver {FULLCHAIN}")
    assert result.rc == 0, result.stdout + result.stderr
    assert f"{FULLCHAIN}: OK" in result.stdout


def test_certificate_covers_the_configured_names(host):
    text = host.check_output(f"openssl x509 -in {FULLCHAIN} -noout -ext subjectAltName")
    assert "DNS:localhost" in text
    assert "IP Address:127.0.0.1" in text


def test_private_key_matches_the_certificate(host):
    from_cert = host.check_output(f"openssl x509 -in {FULLCHAIN} -noout -pubkey")
    from_key = host.check_output(f"openssl pkey -in {PRIVKEY} -pubout")
    assert from_cert == from_key


def test_private_key_is_readable_only_by_root_and_its_group(host):
    key = host.file(PRIVKEY)
    assert key.user == "root"
    assert key.group == KEY_GROUP
    assert key.mode == 0o640
    assert host.file(TLS_DIR).mode == 0o750


def test_certificate_is_not_a_ca_and_lasts_at_most_90_days(host):
    text = host.check_output(f"openssl x509 -in {FULLCHAIN} -noout -text")
    assert "CA:TRUE" not in text
    assert host.run(f"openssl x509 -in {FULLCHAIN} -noout -checkend {90 * 86400 + 60}").rc == 1
    assert host.run(f"openssl x509 -in {FULLCHAIN} -noout -checkend {60 * 86400}").rc == 0


def serial_names_and_key(host) -> tuple[str, str, str]:
    """The certificate's serial and subjectAltName, and its key's algorithm, as openssl reads them on the host."""
    text = host.check_output(f"openssl x509 -in {FULLCHAIN} -noout -serial -ext subjectAltName")
    key = host.check_output(f"openssl pkey -in {PRIVKEY} -noout -text")
    algorithm = "RSA" if "modulus:" in key else "EC" if "ASN1 OID:" in key else "unknown"
    return text.splitlines()[0], text.splitlines()[-1].strip(), algorithm


def converge(**variables) -> str:
    """The scenario's converge again with ``variables``; what Ansible printed."""
    run = converge_again(**variables)
    assert run.returncode == 0, run.stdout[-3000:]
    return run.stdout


@pytest.mark.skipif(
    os.environ.get("MOLECULE_SCENARIO_NAME") != "certificates",
    reason="issues the certificate again with the certificates scenario's converge: in that scenario only",
)
def test_the_certificate_is_issued_again_when_it_is_due_or_asked_for_otherwise_and_only_then(host):
    """Due for renewal, another name, another key type: a new certificate each time; otherwise it stays."""
    first = serial_names_and_key(host)
    assert first[2] == "EC"
    assert converge() and serial_names_and_key(host) == first
    # 90 days' validity (the default) is due when 90 are asked to be left.
    due = {"certificates_validity_days": 91, "certificates_renew_before_days": 90}
    converge(**due)
    renewed = serial_names_and_key(host)
    assert renewed[0] != first[0] and renewed[1:] == first[1:]
    converge(**due)
    assert serial_names_and_key(host) == renewed, "a certificate renewed a moment ago was renewed again"
    # The names the certificate has now (the harness's), and one more.
    names = [name.split(":", 1)[1] for name in first[1].split(", ")]
    assert names == ["localhost", "127.0.0.1"], first[1]
    converge(certificates_names=[*names, "www.example.org"])
    named = serial_names_and_key(host)
    assert named[0] != renewed[0] and "DNS:www.example.org" in named[1]
    converge(certificates_key_type="RSA")
    rsa = serial_names_and_key(host)
    assert rsa[0] != named[0] and rsa[2] == "RSA" and "www.example.org" not in rsa[1]
    # Back as the scenario has it, for what follows.
    converge()
    back = serial_names_and_key(host)
    assert back[1:] == first[1:] and back[0] != rsa[0]
