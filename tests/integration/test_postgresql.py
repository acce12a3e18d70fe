"""The postgresql role alone: the app's role reaches its database with its password, from the networks given,
over TLS from any but the loopback, and nothing else gets in.

Runs in the postgresql scenario (molecule/postgresql), where PostgreSQL
listens on the loopback and on the host's own network address: a client
that connects to that address comes from it, as another host would.
"""

from __future__ import annotations

import os

import pytest
import yaml
from conftest import ROOT, converge_again, psql

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.skipif(
        os.environ.get("MOLECULE_SCENARIO_NAME") != "postgresql", reason="runs in the postgresql scenario"
    ),
]

# The scenario's inventory: the harness's password, the app's name for the
# database and its role (postgresql_database's and postgresql_user's default).
PASSWORD = yaml.safe_load((ROOT / "tests" / "harness" / "group_vars" / "asgi_db" / "demo.yml").read_text())[
    "postgresql_password"
]
DATABASE = USER = yaml.safe_load((ROOT / "tests" / "harness" / "group_vars" / "asgi_app" / "demo.yml").read_text())[
    "django_app_name"
]


def as_the_app(host, sql: str, **options: str) -> tuple[int, str]:
    """One query over TCP as the app's role, but for what ``options`` change (conftest's psql)."""
    return psql(host, sql, **({"user": USER, "password": PASSWORD, "database": DATABASE} | options))


@pytest.fixture(scope="module")
def address(host) -> str:
    return host.check_output("hostname -I").split()[0]


def test_the_apps_role_owns_its_database_and_its_rows_survive_a_restart(host):
    rc, said = as_the_app(
        host,
        "SELECT current_user, pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()",
    )
    assert (rc, said) == (0, f"{USER} {USER}")
    rc, said = as_the_app(
        host, "CREATE TABLE IF NOT EXISTS kept (note text); INSERT INTO kept VALUES ('before the restart')"
    )
    assert rc == 0, said
    assert host.run("systemctl restart postgresql.service").rc == 0
    rc, said = as_the_app(host, "SELECT count(*) FROM kept WHERE note = 'before the restart'")
    assert rc == 0 and int(said) >= 1, said


@pytest.mark.parametrize(
    ("case", "options", "refusal"),
    [
        ("a wrong password", {"password": "not-the-password"}, "password authentication failed"),
        ("the superuser with the app's password", {"user": "postgres"}, "no pg_hba.conf entry"),
        (
            "the app's role into another database",
            {"database": "postgres", "sslmode": "require"},
            "no pg_hba.conf entry",
        ),
    ],
)
def test_postgresql_refuses(host, address, case, options, refusal):
    """From the host's network address (Debian's own rules let every role try from the loopback)."""
    rc, said = as_the_app(host, "SELECT 1", address=address, **options)
    assert rc != 0 and refusal in said, f"{case}: {said}"


def test_from_another_address_only_over_tls(host, address):
    rc, said = as_the_app(host, "SELECT 1", address=address, sslmode="disable")
    assert rc != 0 and "no encryption" in said, said
    rc, said = as_the_app(
        host, "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()", address=address, sslmode="require"
    )
    assert rc == 0 and said.startswith("t TLSv1."), said


def test_postgresql_listens_on_the_given_addresses_only_and_runs_as_postgres(host, address):
    listening = host.check_output("ss -ltnH 'sport = :5432'").split("\n")
    assert sorted(line.split()[3] for line in listening if line.strip()) == sorted(
        ["127.0.0.1:5432", f"{address}:5432"]
    )
    assert {process.user for process in host.process.filter(comm="postgres")} == {"postgres"}
    assert host.service("postgresql").is_enabled


def test_a_new_password_takes_effect_on_the_next_run_and_the_old_one_is_refused(host):
    """A re-run leaves the app's role alone only while the app connects with its password: a new one is set."""
    new = "rotated-" + "p" * 32
    try:
        run = converge_again(postgresql_password=new)
        assert run.returncode == 0, run.stdout[-3000:]
        assert as_the_app(host, "SELECT current_user", password=new) == (0, USER)
        rc, said = as_the_app(host, "SELECT current_user")
        assert rc != 0 and "password authentication failed" in said, said
    finally:
        # The harness's password again, for the tests that follow.
        restored = converge_again()
        assert restored.returncode == 0, restored.stdout[-3000:]
    assert as_the_app(host, "SELECT current_user") == (0, USER)
