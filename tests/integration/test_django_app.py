"""The app as django_app installs it: user, releases, environment, manage command."""

import json

import pytest
from conftest import APP, APP_HOME, CURRENT, ENV_FILE, MANAGE, manage

pytestmark = pytest.mark.django_app

# A secret whose quotes, dollar signs, backslashes and spaces must reach the
# app unchanged through the environment file (set in the scenarios' vars).
TRICKY_SECRET = "a 'quoted' \"value\" with $HOME, `ticks` and \\ backslash"


def test_app_user_is_a_system_user_without_login(host):
    user = host.user(APP)
    assert user.exists
    assert user.group == APP
    assert user.shell == "/usr/sbin/nologin"
    assert user.uid < 1000


def test_current_links_to_a_complete_release(host):
    current = host.file(CURRENT)
    assert current.is_symlink
    release = current.linked_to
    assert release.startswith(f"{APP_HOME}/releases/")
    manifest = json.loads(host.file(f"{release}/release.json").content_string)
    assert manifest["path"] == release
    assert host.file(f"{manifest['venv']}/bin/python").exists


def test_code_and_virtualenv_belong_to_root_not_the_app(host):
    release = host.file(CURRENT).linked_to
    for path in (f"{release}/manage.py", f"{release}/venv/bin/python3"):
        assert host.file(path).user == "root", path
    assert host.run(f"runuser -u {APP} -- touch {release}/manage.py").rc != 0


def test_shared_directories_outlive_releases(host):
    for path, mode in ((f"{APP_HOME}/shared/media", 0o755), (f"{APP_HOME}/shared/data", 0o750)):
        directory = host.file(path)
        assert directory.is_directory
        assert directory.user == APP
        assert directory.mode == mode


def test_environment_file_is_readable_only_by_root_and_the_app_group(host):
    env = host.file(ENV_FILE)
    assert env.user == "root"
    assert env.group == APP
    assert env.mode == 0o640
    assert "DJANGO_SECRET_KEY=" in env.content_string


def test_manage_command_runs_as_the_app_user(host):
    result = manage(host, "shell", "-c", "import os; print(os.getuid())")
    assert result.rc == 0, result.stderr
    assert int(result.stdout.split()[-1]) == host.user(APP).uid


def test_secret_reaches_django_unchanged_through_the_manage_command(host):
    result = manage(host, "shell", "-c", "import os; print(os.environ['DEMO_TRICKY_SECRET'])")
    assert result.rc == 0, result.stderr
    assert result.stdout.rstrip("\n").splitlines()[-1] == TRICKY_SECRET


def test_migration_is_applied(host):
    result = manage(host, "showmigrations", "core")
    assert result.rc == 0, result.stderr
    assert "[X] 0001_initial" in result.stdout


def test_static_files_are_collected_into_the_release(host):
    css = host.file(f"{CURRENT}/static/core/site.css")
    assert css.exists
    assert "asgi.stack demo stylesheet" in css.content_string


def test_manage_command_is_installed_for_humans(host):
    command = host.file(MANAGE)
    assert command.mode == 0o755
    assert command.user == "root"


def test_git_release_is_named_by_its_commit(host):
    cache = host.file(f"{APP_HOME}/repo")
    if not cache.exists:
        pytest.skip("deployed from a local directory, not from git")
    commit = host.check_output(f"git -C {APP_HOME}/repo rev-parse HEAD")
    assert host.file(CURRENT).linked_to == f"{APP_HOME}/releases/{commit[:12]}"
