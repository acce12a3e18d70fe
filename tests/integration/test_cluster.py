"""The same app on two hosts behind a balancer, with PostgreSQL and Redis on a host of their own.

Runs in the cluster scenario (molecule/cluster), from the data host: it is
neither the balancer nor an app host, so it is the client from elsewhere on
the network. Clients reach the site at the balancer's address; the app hosts
take requests from the balancer only.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import time
from contextlib import contextmanager

import pytest
import testinfra
import yaml
from conftest import APP, CA_FILE, CURRENT, ENV_FILE, MANAGE, ROOT, load, room_broadcast, run_site

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.environ.get("MOLECULE_SCENARIO_NAME") != "cluster", reason="runs in the cluster scenario"),
]

# The hosts' addresses, as the scenario's inventory gives them (its network
# in molecule.yml has the same subnet).
_INVENTORY = ROOT / "molecule" / "cluster"
NETWORK = yaml.safe_load((_INVENTORY / "group_vars" / "all.yml").read_text())["cluster_network"]


def _address(name: str) -> str:
    template = yaml.safe_load((_INVENTORY / "host_vars" / f"asgi-cluster-{name}.yml").read_text())["asgi_stack_address"]
    return template.replace("{{ cluster_network }}", NETWORK)


BALANCER, APP1, APP2, DATA = (_address(name) for name in ("balancer", "app1", "app2", "data"))
APP_HOSTS = {"asgi-cluster-app1": APP1, "asgi-cluster-app2": APP2}
SITE = f"https://{BALANCER}"
DEMO = ROOT / "tests" / "demo_project"
INJECTED = "injected by the cluster test"


def other(name: str):
    return testinfra.get_host(f"docker://{name}")


def get(host, url: str, *options: str) -> tuple[int, str]:
    """Status and body of one request with curl inside ``host``, checked against the site's CA."""
    result = host.run(
        "curl --silent --show-error --max-time 15 --cacert /tmp/cluster-ca.pem --write-out '\\n%{http_code}' "
        + " ".join(shlex.quote(part) for part in (*options, url))
    )
    assert result.rc == 0, f"curl {url} failed: {result.stderr}"
    body, _dummy, status = result.stdout.rpartition("\n")
    return int(status), body


def release_of(name: str) -> str:
    return other(name).file(CURRENT).linked_to.rsplit("/", 1)[1]


@pytest.fixture(scope="module", autouse=True)
def client(host):
    """The data host gets the site's CA (from the balancer), the load generator and the room clients."""
    ca = other("asgi-cluster-balancer").file(CA_FILE).content_string
    host.run(f"cat > /tmp/cluster-ca.pem <<'PEM'\n{ca}\nPEM")
    return host


def test_requests_through_the_balancer_reach_both_app_hosts(host):
    served = {}
    for _request in range(12):
        status, body = get(host, f"{SITE}/whoami/")
        assert status == 200, body
        seen = json.loads(body)
        served[seen["hostname"]] = served.get(seen["hostname"], 0) + 1
        # The client's address and scheme as the balancer saw them reach Django.
        assert (seen["client"], seen["scheme"], seen["host"]) == (DATA, "https", BALANCER), seen
    print(f"\nrequests per app host through the balancer: {served}")
    assert set(served) == set(APP_HOSTS), served


def connect(client, address: str, port: int):
    """A TCP connection from ``client`` to ``address``:``port`` (bash's /dev/tcp, 5 s at most): the run's result."""
    return client.run(f"timeout 5 bash -c 'exec 3<>/dev/tcp/{address}/{port}'")


def refused(client, address: str, port: int) -> str:
    """What a TCP connection from ``client`` to ``address``:``port`` met, asserting it was refused at once: a
    firewall's reset, where a service would have taken the connection."""
    result = connect(client, address, port)
    assert result.rc == 1 and "Connection refused" in result.stderr, (result.rc, result.stderr)
    return result.stderr


def served_through(balancer, name: str) -> None:
    """The balancer, straight to an app host's nginx: served by that host."""
    balancer.run(f"cp {CA_FILE} /tmp/cluster-ca.pem")
    status, body = get(balancer, "https://cluster.test/whoami/", "--resolve", f"cluster.test:443:{APP_HOSTS[name]}")
    assert status == 200 and json.loads(body)["hostname"] == name, body


@pytest.mark.parametrize("name", sorted(APP_HOSTS))
def test_app_hosts_take_requests_from_the_balancer_only(host, name):
    # From the data host, straight to the app host: not even a connection.
    for port in (80, 443):
        refused(host, APP_HOSTS[name], port)
    served_through(other("asgi-cluster-balancer"), name)


# Seconds within which an app host's rules are back once its nftables.service has restarted.
FIREWALL_BACK_WITHIN_S = 10


def test_an_app_hosts_firewall_comes_back_when_the_hosts_own_nftables_restarts(host):
    """Debian's nftables.service flushes every table when it starts: the app host's rules are loaded again.

    The restart returns once nftables.service has started; the rules' unit, started after it (After=), may
    still be loading them then (a suite run met the port open at once), so the test gives it a few seconds.
    """
    assert other("asgi-cluster-app1").run("systemctl restart nftables.service").rc == 0
    deadline = time.monotonic() + FIREWALL_BACK_WITHIN_S
    while connect(host, APP1, 443).rc == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    refused(host, APP1, 443)
    served_through(other("asgi-cluster-balancer"), "asgi-cluster-app1")


def test_a_group_message_reaches_every_client_across_app_hosts(host):
    outcome = room_broadcast(host, f"wss://{BALANCER}/", "/tmp/cluster-ca.pem", clients=10, processes=2, hosts=2)
    print(f"\nroom broadcast across app hosts: {outcome}")
    assert set(outcome["hosts"]) == set(APP_HOSTS), f"the clients did not reach both app hosts: {outcome}"
    assert outcome["clients"] >= 10, outcome
    assert outcome["heard"] == outcome["clients"], f"the message reached only {outcome['heard']} clients: {outcome}"


def env_value(name: str, key: str) -> str:
    for line in other(name).file(ENV_FILE).content_string.splitlines():
        if line.startswith(f"{key}="):
            return shlex.split(line.partition("=")[2])[0]
    raise AssertionError(f"no {key} in {ENV_FILE} on {name}")


def as_postgres(host, sql: str, database: str = "postgres") -> str:
    """What psql prints for ``sql`` run on the data host as PostgreSQL's superuser, columns apart by a space."""
    return host.check_output(f"runuser -u postgres -- psql -d {database} -tA -F ' ' -c {shlex.quote(sql)}")


def visits(host) -> int:
    return int(as_postgres(host, "SELECT count(*) FROM core_visit", env_value("asgi-cluster-app1", "DJANGO_DB_NAME")))


def test_the_app_hosts_keep_their_rows_in_postgresql(host):
    before = visits(host)
    for _request in range(4):
        status, body = get(host, f"{SITE}/")
        assert status == 200, body
    assert visits(host) == before + 4


def pooled_processes(name: str) -> int:
    """The app's processes on an app host that each keep a pool: the app user's processes without children (a
    server's main process that runs workers does not load the app), multiprocessing's helper left out."""
    rows = [line.split(None, 2) for line in other(name).check_output(f"ps -o pid=,ppid=,args= -u {APP}").splitlines()]
    parents = {ppid for _pid, ppid, _args in rows}
    return sum(1 for pid, _ppid, args in rows if pid not in parents and "resource_tracker" not in args)


def test_postgresql_takes_every_connection_the_app_hosts_pools_may_hold(host):
    """With every pool full, twice over (a reload's new processes beside the old ones), PostgreSQL still takes
    a migration's connection: max_connections was sized for the processes the app hosts run."""
    user, database, password, pool = (
        env_value("asgi-cluster-app1", f"DJANGO_DB_{key}") for key in ("USER", "NAME", "PASSWORD", "POOL_SIZE")
    )
    processes = {name: pooled_processes(name) for name in APP_HOSTS}
    need = sum(processes.values()) * int(pool) * 2
    held = int(as_postgres(host, f"SELECT count(*) FROM pg_stat_activity WHERE usename = '{user}'"))
    print(f"\nserver processes {processes}, pool {pool}: {need} connections at most, {held} held now")
    assert need > 100, "the scenario's pools must need more than PostgreSQL's default for this test to tell"
    # The rest of them, held by one client on app1 while app2 runs a migration.
    fill = (
        "import sys, time, psycopg\n"
        f"held = [psycopg.connect(host='{DATA}', dbname='{database}', user='{user}', password=sys.argv[1])"
        f" for _ in range({need - held})]\n"
        "print('holding', len(held), flush=True)\n"
        "time.sleep(60)\n"
    )
    python = f"{CURRENT}/venv/bin/python"
    app1 = other("asgi-cluster-app1")
    out = "/tmp/pools-filled.out"
    pid = app1.check_output(f"setsid {python} -c {shlex.quote(fill)} {shlex.quote(password)} > {out} 2>&1 & echo $!")
    try:
        said = ""
        for _second in range(60):
            said = app1.run(f"cat {out}").stdout
            if "holding" in said or "Error" in said:
                break
            time.sleep(1)
        assert f"holding {need - held}" in said, said[-2000:]
        migrate = other("asgi-cluster-app2").run(f"{MANAGE} migrate --check")
        assert migrate.rc == 0, migrate.stdout + migrate.stderr
        assert get(host, f"{SITE}/")[0] == 200
    finally:
        app1.run(f"kill {pid}")


def test_the_app_hosts_reach_postgresql_over_tls_only(host):
    user, database, password = (
        env_value("asgi-cluster-app1", f"DJANGO_DB_{key}") for key in ("USER", "NAME", "PASSWORD")
    )
    for _request in range(4):
        assert get(host, f"{SITE}/")[0] == 200
    # The app's pooled connections from both app hosts, as PostgreSQL sees them.
    rows = as_postgres(
        host,
        "SELECT a.client_addr, s.ssl, s.version FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)"
        f" WHERE a.usename = '{user}' AND a.client_addr IS NOT NULL",
    ).splitlines()
    print(f"\nthe app's connections to PostgreSQL (address, TLS, version): {rows}")
    assert {row.split()[0] for row in rows} == {APP1, APP2}, rows
    assert all(row.split()[1] == "t" for row in rows), rows
    # Without TLS, an app host is refused.
    python = "/srv/demo/current/venv/bin/python"
    plain = other("asgi-cluster-app1").run(
        f"{python} -c "
        + shlex.quote(
            "import sys, psycopg\n"
            f"psycopg.connect(host='{DATA}', dbname='{database}', user='{user}', password=sys.argv[1],"
            " sslmode='disable')"
        )
        + f" {shlex.quote(password)}"
    )
    assert plain.rc != 0 and "no encryption" in plain.stderr, plain.stderr


def test_postgresql_and_redis_take_the_app_hosts_only(host):
    # PostgreSQL: the app's role with its password, from a host that is not an app host.
    user, database, password = (
        env_value("asgi-cluster-app1", f"DJANGO_DB_{key}") for key in ("USER", "NAME", "PASSWORD")
    )
    other_host = host.run(f"PGPASSWORD={shlex.quote(password)} psql -h {DATA} -U {user} -d {database} -tAc 'SELECT 1'")
    assert other_host.rc != 0 and "no pg_hba.conf entry" in other_host.stderr, other_host.stderr
    # Both listen on the private address only, and take connections from the
    # app hosts only: another host (the balancer) cannot even connect.
    for port in (5432, 6379):
        listening = host.check_output(f"ss -ltnH 'sport = :{port}'").split("\n")
        assert sorted(line.split()[3] for line in listening if line.strip()) == [f"{DATA}:{port}"], listening
        refused(other("asgi-cluster-balancer"), DATA, port)
        taken = connect(other("asgi-cluster-app2"), DATA, port)
        assert taken.rc == 0, taken.stderr
    # Redis: a wrong password is refused; the app's URL works.
    url = env_value("asgi-cluster-app1", "DJANGO_REDIS_URL")
    user, _dummy, secret = url.split("//", 1)[1].split("@", 1)[0].partition(":")
    wrong = host.run(f"redis-cli -h {DATA} --user {user} --pass not-the-password --no-auth-warning ping")
    assert "WRONGPASS" in wrong.stdout + wrong.stderr
    right = host.run(f"redis-cli -h {DATA} --user {user} --pass {shlex.quote(secret)} --no-auth-warning ping")
    assert right.stdout.strip() == "PONG", right.stdout + right.stderr


@pytest.fixture(scope="module")
def variants(tmp_path_factory) -> dict[str, str]:
    """Copies of the demo project: two new versions, and a broken one.

    The broken one answers 500 to its health check and to the load's requests (/whoami/): on a
    host that is still in the balancer while it is served, clients would get those 500s.
    """
    root = tmp_path_factory.mktemp("cluster-variants")
    for name in ("v2", "v3", "broken"):
        shutil.copytree(DEMO, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3"))
        (root / name / "core" / "version.txt").write_text(f"{name}\n")
    with (root / "broken" / "core" / "views.py").open("a") as views:
        for view in ("health", "whoami"):
            views.write(
                f"\n\nasync def {view}(request):\n    return JsonResponse({{'status': '{INJECTED}'}}, status=500)\n"
            )
    return {name: str(root / name) for name in ("v2", "v3", "broken")}


@contextmanager
def under_load(host, step: str):
    """The light load (loadgen.py) from the data host through the balancer while the block runs."""
    totals: dict = {}
    try:
        with load(host, "light", SITE, "/tmp/cluster-ca.pem") as totals:
            yield totals
    finally:
        if totals:
            print(
                f"\n[cluster] {step} (light, through the balancer): {totals['requests']} requests,"
                f" {totals['failures']} failed, latency p50 {totals['latency_p50_s']} s,"
                f" p99 {totals['latency_p99_s']} s, max {totals['latency_max_s']} s {totals['failure_samples'] or ''}"
            )


def output_of(result) -> str:
    return " ".join((result.stdout + result.stderr).split())


def ran_on(output: str, task: str) -> list[str]:
    """The hosts on which ``task`` ran (ok or changed) in a run's output, each time it came."""
    hosts = []
    for section in output.split(f"TASK [{task}]")[1:]:
        section = section.split("\nTASK [", 1)[0]
        hosts += re.findall(r"^(?:ok|changed): \[([^\]]+)\]", section, re.M)
    return hosts


def test_a_rolling_deploy_answers_every_request(host, variants):
    before = {name: release_of(name) for name in APP_HOSTS}
    with under_load(host, "rolling deploy of a new release") as totals:
        result = run_site({"django_app_src_dir": variants["v2"]})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    after = {name: release_of(name) for name in APP_HOSTS}
    assert len(set(after.values())) == 1 and set(after.values()).isdisjoint(before.values()), (before, after)
    # One batch at a time: each app host left the balancer and came back, apart.
    drains = result.stdout.count("TASK [asgi.stack.balancer : Drain | Write each balancer's upstream]")
    assert drains == 2 * len(APP_HOSTS), f"{drains} drains for {len(APP_HOSTS)} batches"
    # The shared database is migrated once per deploy, by the first batch.
    assert ran_on(result.stdout, "asgi.stack.django_app : Manage | Apply the migrations") == ["asgi-cluster-app1"]
    assert totals["requests"] >= 50 and totals["failures"] == 0, totals


def test_a_rollout_whose_second_batch_fails_ends_on_the_previous_release(host, variants):
    before = {name: release_of(name) for name in APP_HOSTS}
    assert len(set(before.values())) == 1, before
    broken, good = variants["broken"], variants["v3"]
    source = f"{{{{ '{broken}' if inventory_hostname == 'asgi-cluster-app2' else '{good}' }}}}"
    with under_load(host, "rollout whose second batch fails its health gate") as totals:
        result = run_site({"django_app_src_dir": source})
    output = output_of(result)
    assert result.returncode != 0, output[-3000:]
    assert "The rolling deploy stopped: asgi-cluster-app2 failed" in output, output[-3000:]
    assert "Sent back to the release before: asgi-cluster-app1" in output, output[-3000:]
    assert {name: release_of(name) for name in APP_HOSTS} == before
    assert totals["requests"] >= 50 and totals["failures"] == 0, totals
    # What the hosts serve now answers.
    status, body = get(host, f"{SITE}/health/")
    assert status == 200, body
