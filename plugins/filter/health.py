# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verdict on a release's health check (asgi.stack.django_app), with what to change when it fails.

Documented in health_verdict.yml beside this file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

# What nginx answers while the server is not (yet) up, and no answer at all:
# the only outcomes that waiting may change.
PENDING = (-1, 502, 503, 504)


def _hint(status: int, result: Mapping[str, Any], timeout: Any) -> str:
    if status == -1:
        return (
            f"no answer within django_app_health_timeout ({timeout} s): {result.get('msg') or 'no connection'}."
            " Is nginx running, and does django_app_health_url name this host?"
        )
    if status in (502, 503, 504):
        return (
            f"nginx still answered {status} after django_app_health_timeout ({timeout} s): the server did not"
            " come up; its journal says why (journalctl -u <the server's unit>)."
        )
    if status in (301, 302, 303, 307, 308):
        return (
            f"it redirects to {result.get('location') or 'another URL'}: set django_app_health_url to a URL"
            " that answers without a redirect (SECURE_SSL_REDIRECT, APPEND_SLASH and login redirects are the usual"
            " causes)."
        )
    if status == 400:
        return (
            "Django refused the request, most often because of its Host header: django_app_health_host must be"
            " one of django_app_allowed_hosts."
        )
    if status in (401, 403):
        return "it needs a login or is forbidden: set django_app_health_url to a URL that answers anyone."
    if status == 404:
        return (
            "the project has no such URL: add a view there that answers without a login (a health view), or set"
            " django_app_health_url to a URL the project has (and django_app_health_status to what it answers)."
        )
    return "waiting would not change it: the release answers, but not as expected (django_app_health_status)."


def health_verdict(result: Mapping[str, Any], expected: Any, url: str, host: str, timeout: Any) -> dict[str, Any]:
    """``healthy``, ``status`` and ``message`` from the registered result of ansible.builtin.uri.

    The message says what was asked and answered and, for a failure, what
    to change: the variable that decides it.
    """
    if not isinstance(result, Mapping):
        raise AnsibleFilterError("asgi.stack.health_verdict takes the registered result of ansible.builtin.uri")
    try:
        expected = int(expected)
        status = int(result.get("status", -1))
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"asgi.stack.health_verdict: statuses must be numbers, got '{expected}'") from None
    healthy = status == expected
    message = f"{url} (Host: {host}) answered {status}, expected {expected}"
    if not healthy:
        message += ": " + _hint(status, result, timeout)
    return {"healthy": healthy, "status": status, "message": message}


def health_pending(result: Mapping[str, Any], expected: Any) -> bool:
    """True while waiting may still change the answer: no answer yet, or nginx's 502, 503 or 504."""
    status = int(result.get("status", -1)) if isinstance(result, Mapping) else -1
    return status != int(expected) and status in PENDING


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"health_verdict": health_verdict, "health_pending": health_pending}
