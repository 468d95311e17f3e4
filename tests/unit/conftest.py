"""Unit tests: pure functions only. Nothing here opens a database, Redis, a socket or a process;
settings are built from arguments (tests/support/settings.py), never from the environment."""

import random

import pytest


class NoJitter(random.Random):
    """A random source whose jitter is always zero, so backoff steps are exact in a table."""

    def uniform(self, a: float, b: float) -> float:
        return (a + b) / 2


@pytest.fixture
def no_jitter() -> random.Random:
    return NoJitter()
