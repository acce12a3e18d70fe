"""Mozilla's TLS profiles as the collection applies them (plugins/filter/tls.py)."""

import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("tls", ROOT / "plugins" / "filter" / "tls.py")
tls = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tls)


def test_modern_is_tls_1_3_alone_with_openssls_own_suites():
    profile = tls.tls_profile("modern", "OpenSSL 3.0.17 1 Jul 2025")
    assert profile["protocols"] == ["TLSv1.3"]
    assert profile["minimum"] == "TLSv1.3"
    assert profile["ciphers"] == []


def test_intermediate_adds_tls_1_2_with_ecdhe_and_aead_ciphers_only():
    profile = tls.tls_profile("intermediate", "3.0.17")
    assert profile["protocols"] == ["TLSv1.2", "TLSv1.3"]
    assert profile["minimum"] == "TLSv1.2"
    assert profile["ciphers"]
    for cipher in profile["ciphers"]:
        assert cipher.startswith("ECDHE-")
        assert "GCM" in cipher or "CHACHA20-POLY1305" in cipher


@pytest.mark.parametrize(
    ("openssl", "first"),
    [
        ("OpenSSL 3.0.17 1 Jul 2025", "X25519"),
        ("OpenSSL 3.5.1 1 Jul 2025", "X25519MLKEM768"),
        ("4.0", "X25519MLKEM768"),
        # nginx -V names its own version first, then OpenSSL's, and the one it runs with if another.
        ("nginx version: nginx/1.26.3\nbuilt with OpenSSL 3.5.1 1 Jul 2025", "X25519MLKEM768"),
        ("nginx version: nginx/1.22.1\nbuilt with OpenSSL 3.0.9 (running with OpenSSL 3.0.17)", "X25519"),
        ("built with OpenSSL 3.0.9 (running with OpenSSL 3.5.4 30 Sep 2025)", "X25519MLKEM768"),
    ],
)
def test_the_hybrid_group_comes_first_where_openssl_has_it(openssl, first):
    curves = tls.tls_profile("modern", openssl)["curves"]
    assert curves[0] == first
    assert curves[-3:] == ["X25519", "prime256v1", "secp384r1"]
    # Neither X448 nor secp521r1, which the guideline leaves out.
    assert not {"X448", "secp521r1"} & set(curves)


def test_a_profile_is_not_changed_by_its_users():
    tls.tls_profile("intermediate", "3.0")["ciphers"].clear()
    assert tls.tls_profile("intermediate", "3.0")["ciphers"]


@pytest.mark.parametrize(
    ("name", "openssl", "message"), [("old", "3.0", "no profile 'old'"), ("modern", "", "no OpenSSL version")]
)
def test_bad_input_is_refused(name, openssl, message):
    with pytest.raises(AnsibleFilterError, match=message):
        tls.tls_profile(name, openssl)
