"""The certificate as certificates issues it: chain, names, key and modes."""

import pytest
from conftest import CA_FILE, KEY_GROUP, TLS_DIR

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
