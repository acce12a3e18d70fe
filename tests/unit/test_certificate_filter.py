"""Unit tests for the filter that decides whether a certificate is issued again."""

import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "filter" / "certificates.py"
spec = importlib.util.spec_from_file_location("certificates", PLUGIN)
certificates = importlib.util.module_from_spec(spec)
spec.loader.exec_module(certificates)

PUBLIC = "-----BEGIN PUBLIC KEY-----\nMFkw...\n-----END PUBLIC KEY-----\n"
NAMES = ["DNS:localhost", "IP:127.0.0.1"]
ECC = {"type": "ECC", "curve": "secp256r1"}


def certificate(**changes) -> dict:
    info = {
        "changed": False,
        "public_key": PUBLIC,
        "not_after": "20270601000000Z",
        "authority_key_identifier": "14:fe",
        "subject": {"commonName": "localhost"},
        "subject_alt_name": ["IP:127.0.0.1", "DNS:localhost"],
        "extended_key_usage": ["TLS Web Server Authentication"],
    }
    info.update(changes)
    return info


KEY = {"public_key": PUBLIC, "type": "ECC", "public_data": {"curve": "secp256r1"}}
ISSUER = {"subject_key_identifier": "14:fe"}
# When the certificate is due for renewal.
RENEW_BY = "20270101000000Z"


def current(cert=None, key=None, issuer=None, common_name="localhost", names=None, key_type=None) -> bool:
    return certificates.certificate_is_current(
        cert or certificate(),
        key or KEY,
        issuer or ISSUER,
        common_name,
        NAMES if names is None else names,
        key_type or ECC,
        RENEW_BY,
    )


def test_the_certificate_the_role_would_issue_stays():
    assert current()


@pytest.mark.parametrize(
    "changes",
    [
        {"not_after": "20261231235959Z"},
        {"authority_key_identifier": "99:99"},
        {"subject_alt_name": ["DNS:localhost"]},
        {"subject_alt_name": ["DNS:localhost", "IP:127.0.0.1", "DNS:www.example.org"]},
        {"subject": {"commonName": "www.example.org"}},
        {"extended_key_usage": ["TLS Web Client Authentication"]},
        {"public_key": "another key"},
    ],
    ids=["renewal-due", "other-ca", "name-removed", "name-added", "common-name", "client-only", "key-replaced"],
)
def test_a_certificate_that_differs_is_issued_again(changes):
    assert not current(certificate(**changes))


def test_a_missing_certificate_or_key_is_issued():
    assert not current(certificate(failed=True, msg="no such file"))
    assert not current({"failed": True, "msg": "no such file"})
    assert not current(key={"failed": True})


def test_a_key_of_another_type_or_curve_is_replaced():
    assert not current(key_type={"type": "RSA", "size": 3072})
    assert not current(key_type={"type": "ECC", "curve": "secp384r1"})
    rsa = {"public_key": PUBLIC, "type": "RSA", "public_data": {"size": 2048}}
    assert not current(key=rsa, key_type={"type": "RSA", "size": 3072})
    assert current(key={**rsa, "public_data": {"size": 3072}}, key_type={"type": "RSA", "size": 3072})


def test_an_issuer_without_a_key_identifier_is_not_trusted():
    assert not current(issuer={"subject_key_identifier": None})


def test_bad_input_is_refused():
    with pytest.raises(AnsibleFilterError, match="at least one name"):
        current(names=[])
    with pytest.raises(AnsibleFilterError, match="issuer must be a registered result"):
        current(issuer="14:fe")


def test_the_renewal_time_is_asn1_time():
    with pytest.raises(AnsibleFilterError, match="YYYYMMDDHHMMSSZ"):
        certificates.certificate_is_current(certificate(), KEY, ISSUER, "localhost", NAMES, ECC, "2027-01-01")
    assert not current(certificate(not_after=RENEW_BY))
