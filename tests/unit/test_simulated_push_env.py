"""`make run` turns the simulator's pushes on: the settings it adds, and what it leaves alone."""

import pytest

from devtools.environment import simulated_push_env
from shared.settings import Settings


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, gateway_port=8123, simulator_port=8191, **values)  # type: ignore[call-arg]


def test_the_simulator_pushes_to_the_gateway_which_trusts_its_certificates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("VEO_PUBSUB_TOPIC", "VEO_PUSH_NOTIFICATIONS", "VEO_SIMULATOR_PUSH_URL"):
        monkeypatch.delenv(name, raising=False)
    env = simulated_push_env(settings())
    push_url = "http://127.0.0.1:8123/api/upstream/notifications"
    assert env["VEO_SIMULATOR_PUSH_URL"] == push_url
    assert env["VEO_PUSH_AUDIENCE"] == push_url
    assert env["VEO_PUSH_NOTIFICATIONS"] == "true"
    assert env["VEO_PUSH_CERTS_URL"] == "http://127.0.0.1:8191/_sim/oauth2/v1/certs"
    assert env["VEO_PUBSUB_TOPIC"].startswith("projects/")


def test_what_the_environment_sets_wins_and_a_real_upstream_gets_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VEO_PUSH_NOTIFICATIONS", "false")
    assert "VEO_PUSH_NOTIFICATIONS" not in simulated_push_env(settings())
    assert simulated_push_env(settings(upstream_backend="vertex")) == {}
