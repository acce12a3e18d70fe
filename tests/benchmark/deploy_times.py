"""Times what a team waits for and prints the figures (scripts/benchmark-deploys).

Deploys with playbooks/site.yml and the demo inventory's variables (the demo
host of ./scripts/demo, default server kind) onto systemd test hosts of this
machine, then times:

- a re-run that changes nothing, on one host and on three hosts at once;
- a deploy of a new release (the demo project with one file changed);
- a switch of server kind, and the switch back.

Beside each time it prints where the CPU went: seconds of CPU used by the
controller (ansible-playbook and everything it ran, docker or ssh clients
included), by the test hosts (their cgroups), and by the whole machine
(/proc/stat, which also counts dockerd and the rest). A run whose machine
CPU nears twice its wall time (two cores) was bound by the CPU.

With --suite-only it prints what the last suite run measured instead: the
seconds of each scenario's steps, and the figures of each deploy under load
beside those of the run before (.cache/logs/load.jsonl, load.previous.jsonl).

Each figure is the median of --runs runs (the new release and the switches
run once each: a second run would no longer be new). Then it prints the step
durations of the last suite run (.cache/logs/results, as tests/run-scenario
writes it). Nothing is asserted: the figures go to the screen and, as JSON,
to .cache/benchmark/deploys.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOSTS = ("asgi-stack-bench-1", "asgi-stack-bench-2", "asgi-stack-bench-3")
DEMO = ROOT / "tests" / "demo_project"
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", re.M)
STEP = re.compile(r"(\w+) (\d+)s")


def machine_cpu_seconds() -> float:
    """CPU seconds the whole machine has been busy (every field of /proc/stat's cpu line but idle and iowait)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]
    return busy / os.sysconf("SC_CLK_TCK")


def container_cpu_seconds(name: str) -> float | None:
    """CPU seconds a container's processes used, from its cgroup (v1 or v2), or None where it cannot be read."""
    found = subprocess.run(["docker", "inspect", "-f", "{{.Id}}", name], capture_output=True, text=True, check=False)
    ident = found.stdout.strip()
    if found.returncode != 0 or not ident:
        return None
    for path in (
        Path(f"/sys/fs/cgroup/system.slice/docker-{ident}.scope/cpu.stat"),
        Path(f"/sys/fs/cgroup/cpuacct/docker/{ident}/cpuacct.usage"),
        Path(f"/sys/fs/cgroup/cpu,cpuacct/docker/{ident}/cpuacct.usage"),
    ):
        if path.exists():
            text = path.read_text()
            if path.name == "cpu.stat":
                return int(re.search(r"usage_usec (\d+)", text)[1]) / 1e6
            return int(text) / 1e9
    return None


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(argv: list[str], env: dict[str, str], log: Path, cpu: dict | None = None) -> tuple[float, str]:
    """Runs a command, appends its output to the log, and returns its wall time and output.

    With ``cpu`` (a dict), fills in the CPU seconds the run cost: ``controller``, ``machine``.
    """
    started, machine, children = time.monotonic(), machine_cpu_seconds(), children_cpu_seconds()
    result = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if cpu is not None:
        cpu["controller"] = round(children_cpu_seconds() - children, 1)
        cpu["machine"] = round(machine_cpu_seconds() - machine, 1)
    with log.open("a") as out:
        out.write(f"### {' '.join(argv)} ({elapsed:.1f} s, exit {result.returncode})\n{result.stdout}{result.stderr}\n")
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)} (see {log})\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    return elapsed, result.stdout


def recap(output: str) -> dict[str, dict[str, int]]:
    keys = ("ok", "changed", "unreachable", "failed", "skipped")
    return {m[0]: dict(zip(keys, map(int, m[1:]), strict=True)) for m in RECAP.findall(output)}


class Bench:
    def __init__(self, runs: int, log: Path, connection: str) -> None:
        self.runs = runs
        self.log = log
        self.connection = connection
        self.work = Path(tempfile.mkdtemp(prefix="asgi-stack-bench."))
        self.env = {
            **os.environ,
            "ANSIBLE_NOCOLOR": "1",
            "ASGI_STACK_DEMO_PROJECT": str(DEMO),
            "ASGI_STACK_CA_DIR": str(self.work / "ca"),
        }
        self.inventory = str(self.work / "inventory")
        # The CPU seconds of the last site() run (controller, hosts, machine).
        self.cpu: dict = {}

    def write_inventory(self) -> None:
        """The hosts, reached by docker exec or, as servers are, over SSH (stock Ansible, ControlPersist)."""
        if self.connection == "ssh":
            key, addresses = self.work / "ssh" / "id_ed25519", self.work / "addresses.json"
            extra = {"host_names": list(HOSTS), "ssh_key": str(key), "addresses_file": str(addresses)}
            run(["ansible-playbook", "tests/harness/ssh_hosts.yml", "-e", json.dumps(extra)], self.env, self.log)
            found = json.loads(addresses.read_text())
            hosts = {
                host: {
                    "ansible_host": found[host],
                    "ansible_user": "root",
                    "ansible_ssh_private_key_file": str(key),
                    "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
                }
                for host in HOSTS
            }
        else:
            # Mitogen's strategy (scripts/benchmark-deploys: use_mitogen) takes over Ansible's short name for the
            # docker connection.
            connection = "docker" if self.connection == "mitogen" else "community.docker.docker"
            hosts = {host: {"ansible_connection": connection} for host in HOSTS}
        inventory = Path(self.inventory)
        inventory.mkdir(exist_ok=True)
        (inventory / "hosts.yml").write_text(json.dumps({"asgi_app": {"hosts": hosts}}))
        (inventory / "group_vars").symlink_to(ROOT / "inventories" / "demo" / "group_vars")

    def site(self, limit: str, extra: dict | None = None) -> tuple[float, dict]:
        argv = ["ansible-playbook", "-i", self.inventory, "playbooks/site.yml", "--limit", limit]
        if extra:
            argv += ["-e", json.dumps(extra)]
        hosts = limit.split(",")
        before = {host: container_cpu_seconds(host) for host in hosts}
        cpu: dict = {}
        elapsed, output = run(argv, self.env, self.log, cpu)
        used = [
            after - before[host]
            for host in hosts
            if before[host] is not None and (after := container_cpu_seconds(host)) is not None
        ]
        cpu["hosts"] = round(sum(used), 1) if len(used) == len(hosts) else None
        self.cpu = cpu
        return elapsed, recap(output)

    def start_hosts(self) -> None:
        for host in HOSTS:
            run(
                ["ansible-playbook", "tests/harness/demo_host.yml", "-e", json.dumps({"host_name": host})],
                self.env,
                self.log,
            )
        self.write_inventory()

    def remove_hosts(self) -> None:
        subprocess.run(["docker", "rm", "-f", *HOSTS], capture_output=True, check=False)
        shutil.rmtree(self.work, ignore_errors=True)

    def repeated(self, limit: str) -> dict:
        times, cpus, last = [], [], {}
        for _dummy in range(self.runs):
            elapsed, last = self.site(limit)
            assert all(host["changed"] == 0 for host in last.values()), f"a re-run changed something: {last}"
            times.append(elapsed)
            cpus.append(self.cpu)
        middle = times.index(statistics.median_low(times))
        return {
            "seconds": round(statistics.median(times), 1),
            "runs": [round(t, 1) for t in times],
            "recap": last,
            "cpu": cpus[middle],
        }

    def measure(self) -> dict:
        figures: dict = {}
        self.start_hosts()
        all_hosts = ",".join(HOSTS)
        elapsed, _dummy = self.site(all_hosts)
        figures["first deploy, 3 hosts"] = {"seconds": round(elapsed, 1), "cpu": self.cpu}
        figures["no-op re-run, 1 host"] = self.repeated(HOSTS[0])
        figures["no-op re-run, 3 hosts"] = self.repeated(all_hosts)
        one, three = figures["no-op re-run, 1 host"]["seconds"], figures["no-op re-run, 3 hosts"]["seconds"]
        figures["no-op re-run, 3 hosts"]["ratio to 1 host"] = round(three / one, 2)

        project = self.work / "release-2"
        shutil.copytree(DEMO, project, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3"))
        (project / "core" / "version.txt").write_text("benchmark\n")
        elapsed, result = self.site(HOSTS[0], {"django_app_src_dir": str(project)})
        figures["new release, 1 host"] = {"seconds": round(elapsed, 1), "recap": result, "cpu": self.cpu}

        for kind in ("uvicorn", "gunicorn_uvicorn"):
            elapsed, result = self.site(HOSTS[0], {"django_app_src_dir": str(project), "asgi_server_kind": kind})
            figures[f"switch to {kind}, 1 host"] = {"seconds": round(elapsed, 1), "recap": result, "cpu": self.cpu}
        return figures


def suite_steps(results: Path) -> list[dict]:
    """The step durations tests/run-scenario printed for each scenario of the last suite run."""
    rows = []
    for line in results.read_text().splitlines() if results.exists() else []:
        name, _dummy, rest = line.partition(": ")
        outcome, _dummy, steps = rest.partition(" (")
        durations: dict[str, int] = {}
        for step, seconds in STEP.findall(steps.split(")")[0]):
            durations[step] = durations.get(step, 0) + int(seconds)
        rows.append({"scenario": name, "result": outcome, "steps": durations, "total": sum(durations.values())})
    return rows


def print_figures(figures: dict, steps: list[dict], connection: str = "docker") -> None:
    if figures:
        print(f"\nDeploys (playbooks/site.yml, demo inventory, default kind, hosts reached by {connection}):")
        width = max(map(len, figures))
        for name, figure in figures.items():
            runs = f"  runs: {', '.join(f'{t} s' for t in figure['runs'])}" if "runs" in figure else ""
            ratio = f"  ({figure['ratio to 1 host']} x one host)" if "ratio to 1 host" in figure else ""
            tasks = next(iter(figure.get("recap", {}).values()), None)
            counts = f"  [ok={tasks['ok']} changed={tasks['changed']} skipped={tasks['skipped']}]" if tasks else ""
            cpu = figure.get("cpu") or {}
            used = f"  CPU s: controller {cpu['controller']}, hosts {cpu['hosts']}, machine {cpu['machine']}"
            used = used if cpu else ""
            print(f"  {name:<{width}}  {figure['seconds']:>6.1f} s{ratio}{runs}{counts}{used}")
    if steps:
        columns = ["converge", "idempotence", "check", "verify"]
        print("\nLast suite run, seconds per step (.cache/logs/results):")
        width = max(len(row["scenario"]) for row in steps)
        print(f"  {'scenario':<{width}}  {'result':<8}" + "".join(f"{c:>12}" for c in [*columns, "total"]))
        for row in steps:
            cells = "".join(f"{row['steps'].get(c, '-'):>12}" for c in columns)
            print(f"  {row['scenario']:<{width}}  {row['result'][:8]:<8}{cells}{row['total']:>12}")
        print(f"  lane time of all scenarios: {sum(row['total'] for row in steps)} s")


def load_figures(path: Path) -> dict[tuple[str, str, str], dict]:
    """The figures of each step under load that a suite run wrote (ASGI_STACK_LOAD_FIGURES), by run and step."""
    rows = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        row = json.loads(line)
        rows[(row.get("distro") or "", row["kind"], row["step"])] = row
    return rows


def print_load(current: dict, previous: dict) -> None:
    """Each step under load of the last suite run, beside the run before it, then each profile's totals.

    For the busy profile a step also shows its WebSockets' worst reconnection (the time from a close frame to a
    new connection that answers) and how many took over 2 s (issue 15's figure: printed, since it is a time).
    """
    if not current:
        return
    print(
        "\nDeploys under load, last suite run [and the one before]: requests, failed, p99 and max latency (s),"
        " and for the busy load the WebSockets' worst reconnection (s, how many over 2 s):"
    )

    def cells(row: dict | None) -> str:
        if not row:
            return "-"
        sockets = row.get("websockets")
        recycling = (sockets or {}).get("after_recycling")
        reconnect = (
            f", reconnect {sockets['worst_reconnect_s']} ({sockets['reconnects_over_2_s']} over 2 s)" if sockets else ""
        ) + (
            f", after recycling {recycling['worst_reconnect_s']} ({recycling['reconnects_over_2_s']} over 2 s)"
            if recycling and recycling["reconnects"]
            else ""
        )
        return (
            f"{row['requests']} req, {row['failures']} failed, p99 {row['latency_p99_s']}, max {row['latency_max_s']}"
            + reconnect
        )

    for key in sorted(current):
        distro, kind, step = key
        before = f"  [{cells(previous.get(key))}]" if previous else ""
        print(f"  {distro} {kind:<16} {step[:60]:<60} {cells(current[key])}{before}")
    for name, rows in load_totals(current).items():
        print(f"  {name}: " + ", ".join(f"{figure} {value}" for figure, value in rows.items()))


def load_totals(rows: dict) -> dict[str, dict]:
    """Each load profile's totals over a suite run's steps: steps, requests, failed; for the busy load also the
    uploads, the streams cut short, the WebSockets reset, and their reconnections over 2 s and the worst, then
    apart those after a recycled worker's close frame (loadgen.py's after_recycling)."""
    totals: dict[str, dict] = {}
    for row in rows.values():
        added = {"steps": 1, "requests": row["requests"], "failed": row["failures"]}
        sockets = row.get("websockets")
        recycling = (sockets or {}).get("after_recycling", {})
        if sockets:
            over = sockets["reconnects_over_2_s"]
            added.update(
                {
                    "uploads": row.get("uploads", 0),
                    "streams cut short": row.get("streams_failed", 0),
                    "WebSockets reset": sockets["resets"],
                    "reconnections over 2 s": over,
                    "steps with one": 1 if over else 0,
                    "after a recycled worker's close, reconnections": recycling.get("reconnects", 0),
                    "of those over 2 s": recycling.get("reconnects_over_2_s", 0),
                }
            )
        profile = totals.setdefault(row["profile"], {})
        for figure, value in added.items():
            profile[figure] = profile.get(figure, 0) + value
        if sockets:
            worst = max(profile.get("worst reconnection (s)", 0.0), sockets["worst_reconnect_s"])
            profile["worst reconnection (s)"] = worst
            worst = max(profile.get("worst after recycling (s)", 0.0), recycling.get("worst_reconnect_s", 0.0))
            profile["worst after recycling (s)"] = worst
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each no-op figure (median shown)")
    parser.add_argument("--suite-only", action="store_true", help="only the last suite run's step durations")
    parser.add_argument("--results", type=Path, default=ROOT / ".cache" / "logs" / "results")
    parser.add_argument(
        "--connection",
        choices=("docker", "ssh", "mitogen"),
        default="docker",
        help="reach the hosts by docker exec, over SSH (as servers are reached), or by docker exec through"
        " Mitogen's strategy (CONNECTION mitogen of tests/run-scenario)",
    )
    args = parser.parse_args()

    out_dir = ROOT / ".cache" / "benchmark"
    out_dir.mkdir(parents=True, exist_ok=True)
    figures: dict = {}
    if not args.suite_only:
        log = out_dir / "deploys.log"
        log.write_text("")
        bench = Bench(args.runs, log, args.connection)
        try:
            figures = bench.measure()
        finally:
            bench.remove_hosts()
    steps = suite_steps(args.results)
    print_figures(figures, steps, args.connection)
    logs = args.results.parent
    load, load_before = load_figures(logs / "load.jsonl"), load_figures(logs / "load.previous.jsonl")
    print_load(load, load_before)
    report = {
        "connection": args.connection,
        "deploys": figures,
        "suite": steps,
        "load": list(load.values()),
        "load_totals": load_totals(load),
        "machine": {"cpus": os.cpu_count(), "date": time.strftime("%F %T")},
    }
    (out_dir / "deploys.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nFigures as JSON: {(out_dir / 'deploys.json').relative_to(ROOT)}")


if __name__ == "__main__":
    main()
