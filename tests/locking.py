"""Holding a row lock from another transaction, and seeing whether work gets past it."""

import threading
from contextlib import contextmanager

import psycopg
from django.db import connection, connections


@contextmanager
def held(sql: str, params: list):
    """Run `sql` (a SELECT … FOR <mode>) in a transaction of another connection; keep its locks for the block."""
    s = connection.settings_dict
    with psycopg.connect(host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"],
                         password=s["PASSWORD"] or None, dbname=s["NAME"]) as other:
        other.execute(sql, params)
        try:
            yield
        finally:
            other.rollback()


class Attempt:
    """Run work() in a thread with its own connection; `done` tells whether it has returned, `error` what it raised."""

    def __init__(self, work):
        self.done = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,))
        self._thread.start()

    def _run(self, work):
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - asserted on by the test
            self.error = exc
        finally:
            self.done.set()
            connections.close_all()

    def finished_within(self, seconds: float) -> bool:
        return self.done.wait(seconds)

    def join(self) -> None:
        self._thread.join(timeout=60)
        assert self.done.is_set(), "still waiting"
        if self.error is not None:
            raise self.error
