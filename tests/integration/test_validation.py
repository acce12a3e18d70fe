"""Bad input fails early, names the variable and what it accepts, and changes nothing.

Every case runs playbooks/site.yml (as a user would) against the scenario's
untouched host with one bad variable. The cases run in one ansible-playbook
run, each as a host of its own (the same container under another inventory
name, with the bad variable as a host variable): none gets past validation,
so one run proves them all.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import KINDS, RECAP, UNIT, failures_of, molecule_host, run_site, run_with_inventory

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
        ["asgi_server_kind", ", ".join(KINDS), "waitress"],
    ),
    "daphne_with_workers": (
        {"asgi_server_kind": "daphne", "asgi_server_workers": 4},
        ["asgi_server_workers", "daphne runs one process"],
    ),
    "no_workers": ({"asgi_server_workers": 0}, ["asgi_server_workers", "1 or more"]),
    "packages_of_no_kind": (
        {"asgi_server_packages": {"waitress": ["waitress>=3"]}},
        ["asgi_server_packages", "names waitress", "no server kind", ", ".join(KINDS)],
    ),
    "packages_empty": (
        {"asgi_server_kind": "uvicorn", "asgi_server_packages": {"uvicorn": []}},
        ["asgi_server_packages", "gives [] for uvicorn", "with the server itself"],
    ),
    "tls_from_a_server_without_it": (
        {"asgi_server_kind": "uvicorn", "asgi_server_tls": True},
        ["asgi_server_tls", "only hypercorn", "'uvicorn'"],
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
    "socket_shared_by_kinds": (
        {"asgi_server_socket": "/run/demo/asgi.sock"},
        ["asgi_server_socket", "'/run/demo/asgi.sock'", f"/run/{UNIT}/asgi.sock", "never share"],
    ),
    "precompress_extension_with_a_dot": (
        {"django_app_precompress_static": ["css", ".js", "*"]},
        ["django_app_precompress_static", '[".js", "*"]', "without the dot"],
    ),
    "source_excludes_with_a_path": (
        {"django_app_source_excludes": [".git", "static/build"]},
        ["django_app_source_excludes", '["static/build"]', "no '/'"],
    ),
    "acme_renewals_miss_hypercorn": (
        {
            "asgi_server_kind": "hypercorn",
            "asgi_server_tls": True,
            "certificates_source": "acme",
            "certificates_acme_terms_agreed": True,
            "certificates_names": ["www.example.org"],
            "certificates_reload_units": ["nginx.service"],
        },
        ["certificates_reload_units", '["nginx.service"]', "demo-hypercorn.service"],
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
    "header_name_bad": (
        {"nginx_proxy_hide_response_headers": ["Alt-Svc", "X-A; add_header Evil 1"]},
        ["nginx_proxy_hide_response_headers", "header names", "X-A; add_header Evil 1"],
    ),
    "tls_profile_unknown": ({"nginx_proxy_tls_profile": "old"}, ["nginx_proxy_tls_profile", "modern, intermediate"]),
    "websocket_limit_off": (
        {"asgi_server_websocket_max_message_size": 0},
        ["asgi_server_websocket_max_message_size", "1024 or more", "'0'"],
    ),
    "server_tls_profile_unknown": (
        {"asgi_server_kind": "hypercorn", "asgi_server_tls": True, "asgi_server_tls_profile": "old"},
        ["asgi_server_tls_profile", "modern, intermediate", "old"],
    ),
    "nginx_directive_leaves_its_block": (
        {"nginx_proxy_server_directives": ["return 204; } server { listen 8080;"]},
        ["nginx_proxy_server_directives", "without '{' or '}'", "listen 8080"],
    ),
    "nginx_location_path_opens_a_block": (
        {"nginx_proxy_locations": [{"path": "/x/ { return 204; }", "directives": ["return 204;"]}]},
        ["nginx_proxy_locations", "needs a path", "/x/ { return 204; }"],
    ),
    "redis_url_not_one": (
        {"django_app_redis_url": "http://asgi:secret@127.0.0.1:6379/0"},
        ["django_app_redis_url", "redis:// or rediss://", "its value is not shown"],
    ),
    "redis_password_weak": ({"redis_password": "secret"}, ["redis_password", "at least 32"]),
    "redis_bind_a_name": (
        {"redis_bind": ["127.0.0.1", "redis.internal"]},
        ["redis_bind", "redis.internal", "IP address"],
    ),
    "redis_port_zero": ({"redis_port": 0}, ["redis_port", "'0'", "from 1 to 65535"]),
    "redis_user_default": ({"redis_user": "default"}, ["redis_user", "'default'", "switches off"]),
    "redis_database_too_high": ({"redis_database": 16}, ["redis_database", "'16'", "from 0 to 15"]),
    "database_settings_incomplete": (
        {"django_app_database": {"host": "127.0.0.1", "name": "demo"}},
        ["django_app_database", "host, port, name, user and password", "it has host, name"],
    ),
    "postgresql_password_weak": ({"postgresql_password": "secret"}, ["postgresql_password", "at least 32"]),
    "postgresql_database_name_bad": (
        {"postgresql_database": "my-shop"},
        ["postgresql_database", "'my-shop'", "lower-case letters, digits and '_'"],
    ),
    "postgresql_listens_on_a_name": (
        {"postgresql_listen_addresses": ["db.internal"]},
        ["postgresql_listen_addresses", "db.internal", "IP address"],
    ),
    "redis_client_without_prefix": (
        {"redis_clients": ["10.0.0.5"]},
        ["redis_clients", "address/prefix", "10.0.0.5"],
    ),
    "postgresql_client_without_prefix": (
        {"postgresql_clients": ["10.0.0.5"]},
        ["postgresql_clients", "address/prefix", "10.0.0.5"],
    ),
    # Every case's host is an app host: 10 is enough for PostgreSQL alone, not
    # for the pools of their server processes.
    "postgresql_too_few_connections": (
        {"postgresql_max_connections": 10},
        ["postgresql_max_connections", "'10'", "or more (the app hosts' server processes", "postgresql_pool_size (4)"],
    ),
    "postgresql_pool_size_zero": ({"postgresql_pool_size": 0}, ["postgresql_pool_size", "'0'", "1 or more"]),
    "database_pool_size_zero": (
        {"django_app_database": dict(host="db", port=5432, name="a", user="a", password="p", pool_size=0)},
        ["django_app_database", "optionally pool_size (1 or more)", "has host, name, password, pool_size, port, user"],
    ),
    "batch_size_zero": ({"deploy_batch_size": 0}, ["deploy_batch_size", "'0'", "1 or more", "'30%'"]),
    "batch_size_over_all_hosts": ({"deploy_batch_size": "150%"}, ["deploy_batch_size", "'150%'", "1% to 100%"]),
    "trusted_proxy_a_name": (
        {"nginx_proxy_trusted_proxies": ["balancer.internal"]},
        ["nginx_proxy_trusted_proxies", '["balancer.internal"]', "IP addresses of the balancers"],
    ),
}

# Cases of a balancer (the group asgi_balancer), whose app hosts are the cases
# above (each with an address): each as a host of the group, with the
# variables a balancer needs besides the bad one.
BALANCER_CASES = {
    "balancer_without_app_hosts": ({"balancer_app_hosts": []}, ["balancer_app_hosts is empty", "asgi_app"]),
    "balancer_also_an_app_host": (
        {"balancer_app_hosts": ["case-balancer_also_an_app_host"]},
        ["case-balancer_also_an_app_host is both a balancer", "balancer_app_hosts", "a host of its own"],
    ),
    "balancer_address_missing": (
        {"asgi_stack_address": ""},
        ["asgi_stack_address must be set", '"case-balancer_address_missing": ""'],
    ),
    "balancer_app_port_zero": ({"balancer_app_port": 0}, ["balancer_app_port is '0'", "1 to 65535"]),
}
BALANCER = {
    "nginx_proxy_site": "demo",
    "asgi_stack_address": "192.0.2.10",
    "balancer_app_hosts": ["case-secret_key_missing", "case-secret_key_insecure"],
}


# Cases of playbooks/benchmark.yml: its own variables, and the host's with a
# kind it would deploy. Each as a host of its own in one run, as above.
BENCHMARK_CASES = {
    "benchmark_kind_unknown": (
        {"benchmark_kinds": ["uvicorn", "waitress"]},
        ["benchmark_kinds", '["uvicorn", "waitress"]', "waitress is no server kind", ", ".join(KINDS)],
    ),
    "benchmark_concurrency_zero": (
        {"benchmark_concurrency": [0, 16]},
        ["benchmark_concurrency", "[0, 16]", "each 1 or more"],
    ),
    "benchmark_url_of_another_host": (
        {"benchmark_urls": [{"name": "elsewhere", "path": "https://www.example.org/"}]},
        ["benchmark_urls", "elsewhere", "'https://www.example.org/'", "no scheme or host"],
    ),
    "benchmark_versus_unknown": (
        {"benchmark_urls": [{"name": "json", "path": "/whoami/", "versus": "nginx"}]},
        ["benchmark_urls", "json's versus is 'nginx'", "another of the URLs"],
    ),
    "benchmark_duration_zero": ({"benchmark_duration": 0}, ["benchmark_duration", "'0'", "1 or more"]),
    "benchmark_rounds_zero": ({"benchmark_rounds": 0}, ["benchmark_rounds", "'0'", "1 or more"]),
    "benchmark_setting_of_no_kind": (
        {"benchmark_settings": [{"name": "h11", "extra_args": ["--http", "h11"], "kinds": ["waitress"]}]},
        ["benchmark_settings", 'h11\'s kinds is ["waitress"]', "give one or more of", ", ".join(KINDS)],
    ),
    "benchmark_setting_of_no_workers": (
        {"benchmark_settings": [{"name": "no workers", "workers": 0}]},
        ["benchmark_settings", "no workers's workers is '0'", "1 or more"],
    ),
    "benchmark_kind_refused_with_the_site": (
        {"benchmark_kinds": ["daphne"], "asgi_server_workers": 4},
        ["asgi_server_workers", "daphne runs one process"],
    ),
}


def host_is_untouched(host) -> None:
    assert not host.file("/srv/demo").exists
    assert not host.file("/etc/demo").exists
    assert not host.file("/etc/asgi-stack").exists
    assert not host.package("nginx").is_installed
    assert not host.package("python3-venv").is_installed
    assert not host.package("redis-server").is_installed
    assert not host.package("postgresql").is_installed
    # The benchmark's load generators.
    assert not host.package("nghttp2-client").is_installed
    assert not host.file("/opt/asgi-stack-benchmark").exists


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, str]:
    """Each case's error messages from one run of site.yml with a host per case."""
    name, connection = molecule_host()
    connection.setdefault("ansible_host", name)
    cases = {
        f"case-{case}": {**connection, "asgi_stack_address": f"192.0.2.{number}", **extra_vars}
        for number, (case, (extra_vars, _dummy)) in enumerate(CASES.items(), start=100)
    }
    balancers = {
        f"case-{case}": {**connection, **BALANCER, **extra_vars}
        for case, (extra_vars, _dummy) in BALANCER_CASES.items()
    }
    # Every case's host is also a database and a Redis host (the harness gives
    # the groups good passwords), so that their cases are checked as site.yml
    # checks them.
    groups = {group: {"hosts": dict.fromkeys(cases)} for group in ("asgi_db", "asgi_redis")}
    groups["asgi_app"] = {"hosts": cases}
    groups["asgi_balancer"] = {"hosts": balancers}
    found, output, recap = case_failures(
        "site.yml", groups, set(cases) | set(balancers), tmp_path_factory.mktemp("cases"), "--forks", "10"
    )
    assert all(unreachable == "0" for unreachable in recap.values()), recap
    return found | {OUTPUT: " ".join(output.split())}


def case_failures(playbook: str, groups: dict, hosts: set, directory: Path, *options: str) -> tuple[dict, str, dict]:
    """One run of ``playbook`` with a host per case: each case's failure (spaces folded), the output, the recap.

    Dozens of hosts at once: with Ansible's own strategy where the run's is Mitogen's (tests/run-scenario),
    which costs more per host (the cases of site.yml took 163 s with it, 131 s without, in full suite runs).
    """
    run = run_with_inventory(playbook, groups, "case-*", directory, *options, ANSIBLE_STRATEGY="linear")
    assert run.returncode != 0, "every case was accepted"
    recap = dict(RECAP.findall(run.stdout))
    assert set(recap) == hosts, run.stdout[-3000:]
    # Failed results go to standard error where the callback is told to
    # (display_failed_stderr, as molecule's environment does).
    output = run.stdout + "\n" + run.stderr
    found = {host[len("case-") :]: " ".join(text.split()) for host, text in failures_of(output).items()}
    return found, output, recap


# Where results keeps the whole output.
OUTPUT = "(output)"


@pytest.mark.parametrize("case", sorted(CASES | BALANCER_CASES))
def test_bad_input_fails_early_with_a_clear_message(host, results, case: str) -> None:
    _dummy, expected = (CASES | BALANCER_CASES)[case]
    failures = results.get(case, "")
    assert failures, f"{case} was accepted"
    if "'no_log: true' was specified" in failures:
        # A no_log task's result is hidden; its error is printed apart, so
        # it is looked for in the whole output (no other case fails there).
        failures = results[OUTPUT]
    for text in expected:
        assert text in failures, f"{case}: '{text}' not in the error:\n{failures[-3000:]}"


def run_site_with(tmp_path: Path, groups: dict, limit: str) -> str:
    """site.yml with molecule's inventory and one of the test's own (groups), limited to its hosts; the output."""
    run = run_with_inventory("site.yml", groups, limit, tmp_path, timeout=300)
    output = " ".join((run.stdout + run.stderr).split())
    assert run.returncode != 0, output[-3000:]
    return output


@pytest.mark.parametrize(
    "group, variable", [("asgi_redis", "django_app_redis_url"), ("asgi_db", "django_app_database")]
)
def test_a_run_that_leaves_the_service_hosts_out_fails_before_the_app_changes(host, tmp_path, group, variable) -> None:
    """The app would lose its Redis URL or its database: the deploy stops before the app's roles, saying why.

    The service's host is left out with --limit, so nothing ever connects to it.
    """
    name, connection = molecule_host()
    connection.setdefault("ansible_host", name)
    groups = {
        "asgi_app": {"hosts": {"case-service-left-out": connection}},
        group: {"hosts": {"service.invalid": {}}},
    }
    output = run_site_with(tmp_path, groups, "case-service-left-out")
    for text in ("service.invalid", f"{variable} is empty", "--limit"):
        assert text in output, f"'{text}' not in:\n{output[-3000:]}"
    host_is_untouched(host)


def test_app_hosts_behind_a_balancer_without_a_shared_database_are_refused(host, tmp_path) -> None:
    """Two app hosts behind a balancer, no asgi_db and no django_app_database: refused, nothing changes."""
    name, connection = molecule_host()
    connection.setdefault("ansible_host", name)
    groups = {
        "asgi_balancer": {
            "hosts": {"case-lb": {**connection, **BALANCER, "balancer_app_hosts": ["case-app11", "case-app12"]}}
        },
        "asgi_app": {
            "hosts": {
                f"case-app{number}": {**connection, "asgi_stack_address": f"192.0.2.{number}"} for number in (11, 12)
            }
        },
    }
    output = run_site_with(tmp_path, groups, "case-*")
    for text in ("case-app11, case-app12", "share no database", "asgi_db", "django_app_database"):
        assert text in output, f"'{text}' not in:\n{output[-3000:]}"
    host_is_untouched(host)


@pytest.fixture
def unsupported_release(host):
    """The host says it runs Debian 11 (bullseye), a release no role supports, for the test's time."""
    os_release = "/etc/os-release"
    assert host.run(f"mv {os_release} {os_release}.asgi-test").rc == 0
    try:
        fake = host.run(
            f"sed 's/bookworm/bullseye/g; s/trixie/bullseye/g; s/^VERSION_ID=.*/VERSION_ID=\"11\"/' "
            f"/usr/lib/os-release > {os_release}"
        )
        assert fake.rc == 0, fake.stderr
        assert host.run(f"grep -x VERSION_CODENAME=bullseye {os_release}").rc == 0
        yield "bullseye"
    finally:
        host.run(f"rm -f {os_release}; mv {os_release}.asgi-test {os_release}")


def test_a_release_no_role_supports_is_refused_unless_the_user_names_one_to_assume(
    host, tmp_path, unsupported_release
) -> None:
    """Each role with a table of releases refuses the host, naming it and the supported ones; named, a warning.

    The same container as an app host, a balancer, a database host and a Redis host; then again with each
    role's *_assume_release and a bad secret key, so that the run passes the release checks (saying what it
    assumes) and still stops before any change.
    """
    name, connection = molecule_host()
    connection.setdefault("ansible_host", name)
    roles = {"case-app": "nginx_proxy", "case-lb": "nginx_proxy", "case-db": "postgresql", "case-redis": "redis"}
    groups = {
        "asgi_app": {"hosts": {"case-app": {**connection, "asgi_stack_address": "192.0.2.11"}}},
        "asgi_balancer": {"hosts": {"case-lb": {**connection, **BALANCER, "balancer_app_hosts": ["case-app"]}}},
        "asgi_db": {"hosts": {"case-db": connection}},
        "asgi_redis": {"hosts": {"case-redis": connection}},
    }
    for step in ("refused", "assumed"):
        (tmp_path / step).mkdir()
    run = run_with_inventory("site.yml", groups, "case-*", tmp_path / "refused", timeout=300)
    assert run.returncode != 0, "an unsupported release was accepted"
    failures = {
        case[len("case-") :]: " ".join(text.split()) for case, text in failures_of(run.stdout + run.stderr).items()
    }
    supported = (
        "bookworm (Debian 12), trixie (Debian 13), jammy (Ubuntu 22.04), noble (Ubuntu 24.04), resolute (Ubuntu 26.04)"
    )
    for case, role in roles.items():
        message = failures.get(case[len("case-") :], "")
        for text in (
            f"runs Debian '{unsupported_release}'",
            f"asgi.stack.{role} does not support",
            supported,
            f"{role}_assume_release",
        ):
            assert text in message, f"{case}: '{text}' not in:\n{message[-3000:]}"

    assumed = {f"{role}_assume_release": "bookworm" for role in set(roles.values())}
    for hosts in groups.values():
        for variables in hosts["hosts"].values():
            variables.update(assumed)
    groups["asgi_app"]["hosts"]["case-app"]["django_app_secret_key"] = ""
    output = run_site_with(tmp_path / "assumed", groups, "case-*")
    assert "a release asgi.stack" not in output, output[-3000:]
    for role in set(roles.values()):
        text = f"asgi.stack.{role} does not support: it is taken to ship what Debian 12 (bookworm) ships"
        assert text in output, f"'{text}' not in:\n{output[-3000:]}"
    assert "nginx 1.22 without HTTP/3, with the brotli module, OpenSSL 3.0" in output
    assert "django_app_secret_key" in output
    host_is_untouched(host)


@pytest.fixture(scope="module")
def benchmark_results(tmp_path_factory) -> dict[str, str]:
    """Each benchmark case's error messages from one run of benchmark.yml with a host per case."""
    name, connection = molecule_host()
    connection.setdefault("ansible_host", name)
    cases = {f"case-{case}": {**connection, **extra_vars} for case, (extra_vars, _dummy) in BENCHMARK_CASES.items()}
    found, _output, _recap = case_failures(
        "benchmark.yml", {"asgi_app": {"hosts": cases}}, set(cases), tmp_path_factory.mktemp("b")
    )
    return found


@pytest.mark.parametrize("case", sorted(BENCHMARK_CASES))
def test_bad_benchmark_input_fails_early_with_a_clear_message(host, benchmark_results, case: str) -> None:
    failures = benchmark_results.get(case, "")
    assert failures, f"{case} was accepted"
    for text in BENCHMARK_CASES[case][1]:
        assert text in failures, f"{case}: '{text}' not in the error:\n{failures[-3000:]}"


def test_no_case_changed_the_host(host, results, benchmark_results) -> None:
    host_is_untouched(host)


def test_a_first_release_whose_health_url_is_missing_fails_at_once_saying_what_to_set(host) -> None:
    """A new user's project without the health URL: the deploy says so at once, and what state the host is in.

    Runs after the bad-input cases, which need the host untouched: this one deploys.
    """
    result = run_site({"django_app_health_url": "https://127.0.0.1/no-such-health-url/"})
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, "a release without its health URL was accepted"
    for text in (
        "answered 404, expected 200",
        "django_app_health_url",
        "no earlier release on this host to go back to",
        "stays current",
    ):
        assert text in output, f"'{text}' not in:\n{output[-3000:]}"
    # A 404 will not heal by waiting: asked once, not for django_app_health_timeout.
    assert "FAILED - RETRYING" not in output, output[-3000:]
    assert "Cannot roll back" not in output
    # The release stays current and served, as the message says.
    release = host.file("/srv/demo/current").linked_to
    assert release.startswith("/srv/demo/releases/")
    assert host.run("curl -s -o /dev/null -w '%{http_code}' -k https://localhost/").stdout == "200"
