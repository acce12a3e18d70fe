"""Unit tests for the host_info module: what it reports of paths, files, packages, users, groups and units."""

import hashlib
import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "modules" / "host_info.py"
spec = importlib.util.spec_from_file_location("host_info", PLUGIN)
host_info = importlib.util.module_from_spec(spec)
spec.loader.exec_module(host_info)


class Module:
    """The one AnsibleModule method read() uses."""

    @staticmethod
    def digest_from_file(path: str, algorithm: str) -> str:
        return hashlib.new(algorithm, Path(path).read_bytes()).hexdigest()


def test_a_file_reports_its_owner_mode_and_checksum(tmp_path):
    settings = tmp_path / "settings"
    settings.write_text("KEY=value\n")
    settings.chmod(0o640)
    info = host_info.read(Module, str(settings), checksum=True)
    assert info["exists"] and info["type"] == "file"
    assert info["mode"] == "0640"
    assert info["checksum"] == hashlib.sha1(b"KEY=value\n").hexdigest()
    assert info["owner"] and info["group"]
    assert "checksum" not in host_info.read(Module, str(settings), checksum=False)


def test_a_directory_and_a_link_with_its_target(tmp_path):
    (tmp_path / "releases").mkdir(mode=0o751)
    os.chmod(tmp_path / "releases", 0o751)
    os.symlink(tmp_path / "releases", tmp_path / "current")
    assert host_info.read(Module, str(tmp_path / "releases"), True)["mode"] == "0751"
    link = host_info.read(Module, str(tmp_path / "current"), True)
    assert (link["type"], link["target"]) == ("link", str(tmp_path / "releases"))


def test_a_dangling_link_exists_and_a_missing_path_does_not(tmp_path):
    os.symlink(tmp_path / "gone", tmp_path / "previous")
    assert host_info.read(Module, str(tmp_path / "previous"), True)["exists"]
    assert host_info.read(Module, str(tmp_path / "missing"), True) == {"exists": False}


def test_a_file_content_is_returned_and_a_missing_file_is_none(tmp_path):
    manifest = tmp_path / "release.json"
    manifest.write_text('{"release": "abc"}')
    assert host_info.content(str(manifest)) == '{"release": "abc"}'
    assert host_info.content(str(tmp_path / "missing")) is None


def test_a_file_over_the_limit_is_refused(tmp_path):
    big = tmp_path / "big"
    big.write_bytes(b"x" * (host_info.MAX_CONTENT + 1))
    with pytest.raises(ValueError, match="larger than"):
        host_info.content(str(big))


def test_only_installed_packages_are_reported_without_architecture():
    output = (
        "nginx\tinstalled\t1.22.1-9+deb12u1\n"
        "python3-venv\tconfig-files\t3.11.2-1+b1\n"
        "libssl3:amd64\tinstalled\t3.0.17-1~deb12u2\n"
    )
    assert host_info.packages(output) == {"nginx": "1.22.1-9+deb12u1", "libssl3": "3.0.17-1~deb12u2"}
    assert host_info.packages("") == {}


def test_units_are_read_per_block_by_their_id():
    output = (
        "Id=demo-uvicorn.socket\nActiveState=active\nUnitFileState=enabled\n\n"
        "Id=demo-uvicorn.service\nActiveState=inactive\nUnitFileState=\n"
    )
    assert host_info.units(output) == {
        "demo-uvicorn.socket": {"Id": "demo-uvicorn.socket", "ActiveState": "active", "UnitFileState": "enabled"},
        "demo-uvicorn.service": {"Id": "demo-uvicorn.service", "ActiveState": "inactive", "UnitFileState": ""},
    }


def test_users_and_groups_that_exist_and_those_that_do_not():
    root = host_info.user("root")
    assert root["uid"] == 0 and root["home"] == "/root" and root["group"] == "root"
    assert host_info.user("no-such-user-asgi-stack") is None
    assert host_info.group("root") == {"gid": 0}
    assert host_info.group("no-such-group-asgi-stack") is None


def test_the_processor_count_is_the_affinity_mask_as_setup_counts_it():
    assert host_info.processor_nproc() == len(os.sched_getaffinity(0))
    assert sorted(host_info.FACTS) == ["distribution", "distribution_release", "processor_nproc"]


def test_the_release_is_read_from_os_release_as_setup_reads_it(tmp_path):
    ubuntu = tmp_path / "os-release"
    ubuntu.write_text(
        'PRETTY_NAME="Ubuntu 24.04.3 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\n# a comment=no\n'
        "VERSION_CODENAME=noble\nID=ubuntu\nID_LIKE=debian\n"
    )
    assert host_info.os_release(str(ubuntu))["VERSION_ID"] == "24.04"
    assert "# a comment" not in host_info.os_release(str(ubuntu))
    assert (host_info.distribution(str(ubuntu)), host_info.distribution_release(str(ubuntu))) == ("Ubuntu", "noble")


def test_a_host_without_os_release_has_no_release(tmp_path):
    missing = str(tmp_path / "missing")
    assert host_info.os_release(missing) == {}
    assert (host_info.distribution(missing), host_info.distribution_release(missing)) == ("", "")


def test_this_machine_is_named_as_setup_would_name_it():
    found = host_info.os_release()
    assert host_info.distribution() == found["ID"].capitalize()
    assert host_info.distribution_release() == found.get("VERSION_CODENAME", "")


class Runner:
    """The AnsibleModule method public_key() uses, running the command for real."""

    @staticmethod
    def run_command(argv: list[str]) -> tuple[int, str, str]:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        return done.returncode, done.stdout, done.stderr


def test_a_private_keys_public_key_is_returned_and_the_key_is_not(tmp_path):
    key = tmp_path / "privkey.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key)],
        check=True,
        capture_output=True,
    )
    found = host_info.public_key(Runner, str(key))
    assert found.startswith("-----BEGIN PUBLIC KEY-----\n") and found.endswith("-----END PUBLIC KEY-----\n")
    assert "PRIVATE" not in found
    assert (
        found
        == subprocess.run(
            ["openssl", "pkey", "-in", str(key), "-pubout"], capture_output=True, text=True, check=True
        ).stdout
    )


def test_no_public_key_where_there_is_no_key(tmp_path):
    assert host_info.public_key(Runner, str(tmp_path / "missing.pem")) is None
    not_a_key = tmp_path / "not-a-key.pem"
    not_a_key.write_text("hello\n")
    assert host_info.public_key(Runner, str(not_a_key)) is None
