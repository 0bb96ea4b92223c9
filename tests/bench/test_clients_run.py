"""The benchmarks' client processes: the clock runs from the moment every client is set up (as pgbench's TPS leaves
out connecting) to the end of the last attempt; a client that fails to set up fails the run instead of hanging it."""

import time

import pytest
from django.core.management.base import CommandError

from apps.core.benchmarks import clients_run


def _slow_to_set_up(index: int, seconds: float):
    time.sleep(seconds)
    return lambda n: time.sleep(0.01)


def test_setting_up_is_not_timed_and_every_client_works_the_whole_duration():
    counts, elapsed = clients_run(_slow_to_set_up, [0.2, 1.0], 0.5)
    assert 0.5 <= elapsed < 0.7  # the client that took a second to set up did not shorten anyone's half second
    assert all(posted > 20 and refused == errors == 0 for posted, refused, errors in counts)


def _fails_to_set_up(index: int, payload):
    if index == 1:
        raise RuntimeError("no connection")
    return lambda n: None


def test_a_client_that_cannot_set_up_fails_the_run():
    started = time.monotonic()
    with pytest.raises(CommandError, match="no connection"):
        clients_run(_fails_to_set_up, [None, None], 0.2)
    assert time.monotonic() - started < 30
