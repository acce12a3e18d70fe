# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mozilla's server-side TLS profiles, as every TLS port of the collection applies them (nginx_proxy, asgi_server).

Documented in tls_profile.yml beside this file.
"""

from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleFilterError

# Mozilla's Server Side TLS guideline 6.0. TLS 1.3's cipher suites are all
# strong: OpenSSL's defaults are the guideline's three, so none is named.
PROFILES: dict[str, dict[str, Any]] = {
    "modern": {"protocols": ["TLSv1.3"], "minimum": "TLSv1.3", "ciphers": []},
    "intermediate": {
        "protocols": ["TLSv1.2", "TLSv1.3"],
        "minimum": "TLSv1.2",
        # TLS 1.2: ECDHE with AES-GCM or ChaCha20 only.
        "ciphers": [
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "ECDHE-RSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "ECDHE-RSA-AES256-GCM-SHA384",
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            "ECDHE-RSA-CHACHA20-POLY1305",
        ],
    },
}
CURVES = ["X25519", "prime256v1", "secp384r1"]
# The hybrid post-quantum key exchange, first where OpenSSL has it (3.5).
HYBRID = "X25519MLKEM768"


def _version(text: Any) -> tuple[int, int]:
    """OpenSSL's version in a bare version, ``openssl version``'s output or ``nginx -V``'s (the one it runs with)."""
    for pattern in (r"running with OpenSSL (\d+)\.(\d+)", r"OpenSSL (\d+)\.(\d+)", r"^\s*(\d+)\.(\d+)"):
        found = re.search(pattern, str(text or ""))
        if found:
            return int(found.group(1)), int(found.group(2))
    raise AnsibleFilterError(f"tls_profile: no OpenSSL version in {text!r}")


def tls_profile(name: Any, openssl: Any) -> dict[str, Any]:
    """What the profile ``name`` allows with the host's OpenSSL ``openssl`` (its version, or text that holds it).

    ``protocols`` and ``minimum`` (OpenSSL's names), ``ciphers`` (TLS 1.2's, OpenSSL's names; none for
    modern), ``curves`` (key exchange groups, most preferred first).
    """
    if name not in PROFILES:
        raise AnsibleFilterError(f"tls_profile: no profile {name!r}; the profiles are {', '.join(PROFILES)}")
    curves = ([HYBRID] if _version(openssl) >= (3, 5) else []) + CURVES
    return {**PROFILES[name], "ciphers": list(PROFILES[name]["ciphers"]), "curves": curves}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"tls_profile": tls_profile}
