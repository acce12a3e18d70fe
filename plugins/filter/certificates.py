# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a host's certificate needs to be issued again (asgi.stack.certificates).

Documented in certificate_is_current.yml beside this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

SERVER_AUTH = ("TLS Web Server Authentication", "serverAuth")


def certificate_is_current(
    certificate: Mapping[str, Any],
    key: Mapping[str, Any],
    issuer: Mapping[str, Any],
    common_name: str,
    names: Iterable[str],
    key_type: Mapping[str, Any],
    renew_by: str,
) -> bool:
    """True when the certificate can stay: it is what the role would issue now.

    ``certificate`` is what community.crypto.x509_certificate_info says of the
    host's certificate (the filter's answer or the module's result);
    ``key`` is openssl_privatekey_info's for the host's key; ``issuer`` is
    x509_certificate_info's for the CA that must have signed it; ``common_name``
    and ``names`` are the subject's commonName and the subjectAltName entries
    wanted (``DNS:...``, ``IP:...``); ``key_type``
    is the wanted key (``type``, and ``curve`` or ``size``); ``renew_by`` is
    when it is due for renewal (ASN.1 UTC time, ``YYYYMMDDHHMMSSZ`` as
    ``not_after`` is written): it must be valid after then. A result of a
    failed read (no such file) makes it not current.
    """
    for name, result in (("certificate", certificate), ("key", key), ("issuer", issuer)):
        if not isinstance(result, Mapping):
            raise AnsibleFilterError(f"asgi.stack.certificate_is_current: {name} must be a registered result")
    names = list(names)
    if not names:
        raise AnsibleFilterError("asgi.stack.certificate_is_current: names must list at least one name")
    if certificate.get("failed") or key.get("failed") or "public_key" not in certificate:
        return False
    if not re.fullmatch(r"\d{14}Z", str(renew_by)):
        raise AnsibleFilterError(
            f"asgi.stack.certificate_is_current: renew_by must be YYYYMMDDHHMMSSZ, got {renew_by!r}"
        )
    if str(certificate.get("not_after") or "") <= renew_by:
        return False
    if not issuer.get("subject_key_identifier"):
        return False
    if certificate.get("authority_key_identifier") != issuer["subject_key_identifier"]:
        return False
    if sorted(certificate.get("subject_alt_name") or []) != sorted(names):
        return False
    if (certificate.get("subject") or {}).get("commonName") != common_name:
        return False
    if not set(SERVER_AUTH) & set(certificate.get("extended_key_usage") or []):
        return False
    if key.get("public_key") != certificate.get("public_key") or key.get("type") != key_type.get("type"):
        return False
    data = key.get("public_data") or {}
    if "curve" in key_type and data.get("curve") != key_type["curve"]:
        return False
    return not ("size" in key_type and data.get("size") != key_type["size"])


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"certificate_is_current": certificate_is_current}
