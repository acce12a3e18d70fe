"""Bad input fails early, names the variable and what it accepts, and changes nothing.

Each case runs playbooks/site.yml (as a user would) against the scenario's
untouched host with one bad variable given as an extra var.
"""

from __future__ import annotations

import pytest
from conftest import run_site

pytestmark = pytest.mark.validation

GOOD_KEY = "k" * 60

CASES = {
    "secret_key_missing": ({"django_app_secret_key": ""}, ["django_app_secret_key", "at least 50 characters"]),
    "secret_key_insecure": (
        {"django_app_secret_key": "django-insecure-" + GOOD_KEY},
        ["django_app_secret_key", "django-insecure-"],
    ),
    "source_unknown": ({"django_app_source": "svn"}, ["django_app_source", "local, git"]),
    "local_without_dir": ({"django_app_src_dir": ""}, ["django_app_src_dir", "with 'local'"]),
    "git_without_repo": ({"django_app_source": "git"}, ["django_app_git_repo", "with 'git'"]),
    "dir_without_manage_py": ({"django_app_src_dir": "/etc"}, ["django_app_src_dir", "manage.py"]),
    "static_root_outside_release": (
        {"django_app_static_root": "/var/www/static"},
        ["django_app_static_root", "inside", "django_app_current_link"],
    ),
    "no_release_kept": ({"django_app_keep_releases": 0}, ["django_app_keep_releases", "1 or more"]),
    "bad_environment_name": (
        {"django_app_environment": {"1BAD": "x"}},
        ["django_app_environment", "letters, digits and", "'1BAD'"],
    ),
    "multiline_environment_value": (
        {"django_app_environment": {"GOOD": "two\nlines"}},
        ["django_app_environment", "single-line"],
    ),
    "server_kind_unknown": (
        {"asgi_server_kind": "waitress"},
        ["asgi_server_kind", "gunicorn_uvicorn, uvicorn, daphne, hypercorn", "waitress"],
    ),
    "daphne_with_workers": (
        {"asgi_server_kind": "daphne", "asgi_server_workers": 4},
        ["asgi_server_workers", "daphne runs one process"],
    ),
    "no_workers": ({"asgi_server_workers": 0}, ["asgi_server_workers", "1 or more"]),
    "tls_from_a_server_without_it": (
        {"asgi_server_kind": "uvicorn", "asgi_server_tls": True},
        ["asgi_server_tls", "only hypercorn", "'uvicorn'"],
    ),
    "quic_with_workers": (
        {"asgi_server_kind": "hypercorn", "asgi_server_tls": True, "asgi_server_workers": 3},
        ["asgi_server_workers", "must run one worker", "asgi_server_tls_http3"],
    ),
    "tls_port_taken_by_nginx": (
        {"asgi_server_kind": "hypercorn", "asgi_server_tls": True, "asgi_server_tls_port": 443},
        ["asgi_server_tls_port", "differ from nginx's ports"],
    ),
    "tls_key_not_a_path": (
        {"asgi_server_kind": "hypercorn", "asgi_server_tls": True, "asgi_server_tls_certificate_key": "key.pem"},
        ["asgi_server_tls_certificate_key", "must be absolute paths", "'key.pem'"],
    ),
    "tls_key_unreadable_by_server": (
        {"asgi_server_kind": "hypercorn", "asgi_server_tls": True, "certificates_key_group": "root"},
        ["certificates_key_group", "Set certificates_key_group to demo"],
    ),
    "acme_without_terms": (
        {"certificates_source": "acme", "certificates_names": ["www.example.org"]},
        ["certificates_acme_terms_agreed", "terms of service"],
    ),
    "acme_over_http": (
        {
            "certificates_source": "acme",
            "certificates_acme_terms_agreed": True,
            "certificates_acme_directory": "http://acme.example.org/directory",
        },
        ["certificates_acme_directory", "https://"],
    ),
    "acme_for_an_address": (
        {"certificates_source": "acme", "certificates_acme_terms_agreed": True},
        ["certificates_names", "'127.0.0.1'", "DNS names only"],
    ),
    "acme_renewals_miss_hypercorn": (
        {
            "asgi_server_kind": "hypercorn",
            "asgi_server_tls": True,
            "certificates_source": "acme",
            "certificates_acme_terms_agreed": True,
            "certificates_names": ["www.example.org"],
        },
        ["certificates_reload_units", "demo-hypercorn.service"],
    ),
    "provided_without_certificate": (
        {"certificates_source": "provided"},
        ["certificates_provided_certificate", "certificates_provided_certificate_src", "not both"],
    ),
    "certificate_source_unknown": (
        {"certificates_source": "letsencrypt"},
        ["certificates_source", "selfsigned, provided, acme"],
    ),
    "no_certificate_names": ({"certificates_names": []}, ["certificates_names", "at least one"]),
    "renewal_after_expiry": (
        {"certificates_renew_before_days": 120},
        ["certificates_renew_before_days", "certificates_validity_days"],
    ),
    "static_url_without_slash": ({"nginx_proxy_static_url": "/static"}, ["nginx_proxy_static_url", "'/static/'"]),
    "same_ports": ({"nginx_proxy_http_port": 443}, ["nginx_proxy_http_port", "must differ"]),
    "keepalive_negative": ({"nginx_proxy_upstream_keepalive": -1}, ["nginx_proxy_upstream_keepalive", "got -1"]),
    "tls_profile_unknown": ({"nginx_proxy_tls_profile": "old"}, ["nginx_proxy_tls_profile", "modern, intermediate"]),
}


def host_is_untouched(host) -> None:
    assert not host.file("/srv/demo").exists
    assert not host.file("/etc/demo").exists
    assert not host.file("/etc/asgi-stack").exists
    assert not host.package("nginx").is_installed
    assert not host.package("python3-venv").is_installed


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_fails_early_with_a_clear_message(host, case: str) -> None:
    extra_vars, expected = CASES[case]
    result = run_site(extra_vars)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, f"{case} was accepted"
    for text in expected:
        assert text in output, f"{case}: '{text}' not in the error:\n{output[-3000:]}"
    host_is_untouched(host)
