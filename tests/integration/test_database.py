"""The app's rows live in PostgreSQL, which lets the app's role in with its password only.

Runs where PostgreSQL is on the host too (the inventory group asgi_db: on
Debian 12, the host that switches through every kind).
"""

from __future__ import annotations

import os
import shlex

import pytest
from conftest import ENV_FILE, ORIGIN, curl, psql

pytestmark = [
    pytest.mark.django_app,
    pytest.mark.skipif(
        "asgi_db" not in os.environ.get("ASGI_STACK_HOST_GROUPS", ""),
        reason="PostgreSQL runs on this host only where it is in the group asgi_db",
    ),
]


def app_database(host) -> dict[str, str]:
    settings = {}
    for line in host.file(ENV_FILE).content_string.splitlines():
        if line.startswith("DJANGO_DB_"):
            key, _dummy, value = line.partition("=")
            settings[key.removeprefix("DJANGO_DB_").lower()] = shlex.split(value)[0]
    return settings


def test_the_app_writes_its_rows_to_postgresql(host):
    db = app_database(host)
    assert sorted(db) == ["host", "name", "password", "pool_size", "port", "user"], sorted(db)
    count = "SELECT count(*) FROM core_visit"
    rc, before = psql(host, count, db["user"], db["password"], db["name"])
    assert rc == 0, before
    # Each view of the home page is a row (tests/demo_project/core/views.py).
    for _dummy in range(3):
        assert curl(host, f"{ORIGIN}/").status == 200
    rc, after = psql(host, count, db["user"], db["password"], db["name"])
    assert rc == 0, after
    assert int(after) == int(before) + 3


def test_postgresql_refuses_a_wrong_password_and_other_roles(host):
    db = app_database(host)
    rc, said = psql(host, "SELECT 1", db["user"], "not-the-password", db["name"])
    assert rc != 0 and "password authentication failed" in said, said
    rc, said = psql(host, "SELECT 1", "postgres", db["password"], db["name"])
    assert rc != 0 and "password authentication failed" in said, said


def test_postgresql_listens_on_the_loopback_only(host):
    listening = host.check_output("ss -ltnH 'sport = :5432'").split("\n")
    addresses = sorted(line.split()[3] for line in listening if line.strip())
    assert addresses == ["127.0.0.1:5432"], addresses
