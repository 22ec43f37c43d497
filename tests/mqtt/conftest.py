"""Fixtures for the tests against a real mosquitto (tests/mqtt/broker.py). Every test here skips,
saying why, when the Debian package ``mosquitto`` is not installed. The namespace rig fixtures
(``make_ns_rig``) come from tests/e2e/conftest.py."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import (  # noqa: F401 - fixtures and the report hook the e2e tests here use
    _sweep_before_the_first_test,
    make_ns_rig,
    needs_netns,
    pytest_runtest_makereport,
)
from tests.mqtt.broker import SKIP_REASON, USERS, Broker


def pytest_report_header(config):
    return "mqtt broker tests: " + ("mosquitto found" if SKIP_REASON is None else f"SKIPPED: {SKIP_REASON}")


@pytest.fixture
def needs_mosquitto():
    if SKIP_REASON:
        pytest.skip(SKIP_REASON)


@pytest.fixture
def broker(needs_mosquitto):
    """A started mosquitto on a free loopback port (password file, ACL: tests/mqtt/broker.py)."""
    b = Broker().start()
    yield b
    b.close()


@pytest.fixture
def password_file(tmp_path):
    """``password_file(user)`` → path of a 0600 file holding that user's broker password."""
    def make(user: str = "car1", password: str | None = None) -> str:
        path = tmp_path / f"{user}.password"
        path.write_text((USERS[user] if password is None else password) + "\n")
        path.chmod(0o600)
        return str(path)
    return make
