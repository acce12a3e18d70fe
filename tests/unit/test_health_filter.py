"""Unit tests for the verdict on a release's health check: what heals by waiting, and what to change."""

import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "filter" / "health.py"
spec = importlib.util.spec_from_file_location("health", PLUGIN)
health = importlib.util.module_from_spec(spec)
spec.loader.exec_module(health)

URL, HOST = "https://127.0.0.1/health/", "example.com"


def verdict(result: dict, expected: int = 200) -> dict:
    return health.health_verdict(result, expected, URL, HOST, 60)


@pytest.mark.parametrize("status", [-1, 502, 503, 504])
def test_no_answer_or_a_server_not_up_yet_is_asked_again(status):
    assert health.health_pending({"status": status}, 200)


@pytest.mark.parametrize("status", [200, 301, 400, 403, 404, 500])
def test_an_answer_of_the_release_itself_is_final(status):
    assert not health.health_pending({"status": status}, 200)


def test_the_expected_status_is_final_even_when_it_is_one_nginx_gives():
    assert not health.health_pending({"status": 503}, 503)
    assert health.health_pending({}, 200), "no status: nothing answered"


def test_a_healthy_release_says_what_it_answered():
    assert verdict({"status": 200}) == {
        "healthy": True,
        "status": 200,
        "message": f"{URL} (Host: {HOST}) answered 200, expected 200",
    }


@pytest.mark.parametrize(
    "result, words",
    [
        ({"status": 404}, ["answered 404, expected 200", "no such URL", "django_app_health_url"]),
        ({"status": 400}, ["Host header", "django_app_health_host", "django_app_allowed_hosts"]),
        ({"status": 301, "location": "https://example.com/health"}, ["redirects to https://example.com/health"]),
        ({"status": 403}, ["login", "django_app_health_url"]),
        ({"status": 500}, ["answered 500, expected 200", "django_app_health_status"]),
        ({"status": 502}, ["after django_app_health_timeout (60 s)", "journalctl"]),
        ({"status": -1, "msg": "Connection refused"}, ["no answer", "Connection refused", "django_app_health_timeout"]),
        ({}, ["answered -1", "no answer"]),
    ],
)
def test_a_failure_says_what_to_change(result, words):
    found = verdict(result)
    assert found["healthy"] is False
    for word in words:
        assert word in found["message"], found["message"]


def test_statuses_that_are_not_numbers_are_refused():
    with pytest.raises(AnsibleFilterError, match="numbers"):
        verdict({"status": 200}, expected="ok")
    with pytest.raises(AnsibleFilterError, match="registered result"):
        health.health_verdict("200", 200, URL, HOST, 60)
