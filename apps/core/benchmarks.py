"""What the throughput benchmarks share: a scratch database, N client processes, pgbench, one JSON line.

A benchmark command subclasses ``PgbenchComparison`` and implements ``measure``: it runs in
a fully migrated throwaway copy of the schema on the configured PostgreSQL server (created
here, dropped afterwards) and returns its figures, the rate under ``rate_key`` first. Then
pgbench (tpcb-like, same client count and duration, its own throwaway database) runs on
the same server, and one JSON line is printed:

    {"<rate_key>": …, "pgbench_tps": …, "ratio": …, <the benchmark's other figures>}
"""

import json
import multiprocessing
import os
import re
import subprocess
import sys
import threading
import time
from abc import ABCMeta, abstractmethod
from collections.abc import Callable
from contextlib import contextmanager

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections


class PgbenchComparison(BaseCommand, metaclass=ABCMeta):
    rate_key = "per_s"  # the benchmark's own throughput figure, compared with pgbench's TPS
    scratch_suffix = "bench"  # the scratch database is <configured name>_<suffix>

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, default=4)
        parser.add_argument("--duration", type=float, default=20, help="seconds for each half")
        parser.add_argument("--scale", type=int, default=10, help="pgbench scale factor")
        parser.add_argument("--skip-pgbench", action="store_true")

    @abstractmethod
    def measure(self, *, clients: int, duration: float, **options) -> dict:
        """Run the benchmark's half in the scratch database; its figures, `rate_key` first."""

    def handle(self, *args, clients, duration, scale, skip_pgbench, **options):
        if clients < 1 or duration <= 0:
            raise CommandError("--clients and --duration must be positive.")
        with scratch_database(self.scratch_suffix, self.log) as (base, _):
            figures = self.measure(clients=clients, duration=duration, **options)
        pgbench_tps = None if skip_pgbench else self.pgbench(base, clients, duration, scale)
        rate = round(figures.pop(self.rate_key), 1)
        ratio = round(rate / pgbench_tps, 3) if pgbench_tps else None  # of the figures as printed
        self.stdout.write(json.dumps({self.rate_key: rate, "pgbench_tps": pgbench_tps, "ratio": ratio, **figures,
                                      "clients": clients, "duration_s": duration}))

    def log(self, message: str) -> None:
        self.stderr.write(f"{self.scratch_suffix}: {message}")

    def pgbench(self, base: dict, clients: int, duration: float, scale: int) -> float:
        """pgbench tpcb-like on the same server, in its own throwaway database: TPS without connection time."""
        import psycopg
        from psycopg import sql

        from orderfin.devservices import pgbench_path

        binary = pgbench_path()
        name = f"{base['NAME']}_{self.scratch_suffix}_pgbench"
        admin = psycopg.connect(host=base["HOST"] or "127.0.0.1", port=base["PORT"] or 5432, user=base["USER"],
                                password=base["PASSWORD"] or None, dbname="postgres", autocommit=True)
        env_args = ["-h", str(base["HOST"] or "127.0.0.1"), "-p", str(base["PORT"] or 5432), "-U", base["USER"]]
        env = {"PGPASSWORD": base["PASSWORD"]} if base["PASSWORD"] else {}
        try:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            self.log(f"pgbench -i -s {scale} …")
            _run([binary, "-i", "-q", "-s", str(scale), *env_args, name], env)
            self.log(f"pgbench tpcb-like, {clients} clients, {duration:g}s …")
            out = _run([binary, "-b", "tpcb-like", "-c", str(clients), "-j", str(clients), "-T", str(max(1, round(duration))),
                        "-n", *env_args, name], env)
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            admin.close()
        match = re.search(r"tps = ([\d.]+) \((?:without initial connection time|excluding connections establishing)\)", out)
        if not match:
            raise CommandError(f"could not read pgbench's TPS:\n{out}")
        return round(float(match.group(1)), 1)


@contextmanager
def scratch_database(suffix: str, log: Callable[[str], None]):
    """A fully migrated throwaway copy of the schema, named <database>_<suffix>, dropped afterwards.

    Yields (the configured database's settings, the scratch database's name); Django's connection
    points at the scratch database inside the block.
    """
    base = dict(settings.DATABASES["default"])
    scratch = f"{base['NAME']}_{suffix}"
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = scratch
    log(f"creating {scratch} …")
    creation = connection.creation
    old_name = creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield base, scratch
    finally:
        connections.close_all()
        creation.destroy_test_db(old_name, verbosity=0)


def clients_run(prepare: Callable, payloads: list, duration: float) -> tuple[list[tuple], float]:
    """Run one forked client process per payload, each with its own connection: prepare(index, payload) sets the client
    up and returns its attempt(n); once every client is ready, each makes attempts for `duration` seconds
    (attempts_count). Returns (each client's (posted, refused, errors), elapsed seconds).

    As pgbench reports TPS without initial connection time, the clock starts when every client has connected and
    loaded what it works on, and stops when the last one's last attempt ends.
    """
    connections.close_all()  # never share the parent's socket
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    ready = ctx.Barrier(len(payloads) + 1)
    procs = [ctx.Process(target=_client, args=(prepare, i, payload, duration, ready, results))
             for i, payload in enumerate(payloads)]
    for p in procs:
        p.start()
    try:
        ready.wait(timeout=_SETUP_TIMEOUT)
    except threading.BrokenBarrierError:
        pass  # a client failed to set up: it reports why below
    start = time.monotonic()  # CLOCK_MONOTONIC: the same clock in every process
    reports = [results.get(timeout=_SETUP_TIMEOUT + duration) for _ in procs]
    for p in procs:
        p.join()
    crashed = [message for status, message in reports if status == _CRASHED]
    if crashed:  # (None: a client stopped because another could not set up)
        raise CommandError(f"a client crashed: {next(filter(None, crashed), 'a client did not set up in time')}")
    return [counts for counts, _ in reports], max(end for _, end in reports) - start


def attempts_count(attempt: Callable[[int], object], deadline: float) -> tuple[int, int, int]:
    """Call attempt(n) for n = 1, 2, … until the deadline; count (posted, refused by a domain rule, errors)."""
    from apps.core.errors import DomainError

    posted = refused = errors = n = 0
    while time.monotonic() < deadline:
        n += 1
        try:
            attempt(n)
            posted += 1
        except DomainError:
            refused += 1
        except Exception:  # noqa: BLE001 - counted and reported; a benchmark must finish
            errors += 1
    return posted, refused, errors


_CRASHED = "crashed"
_SETUP_TIMEOUT = 120  # seconds a client may take to connect and load its rows


def _client(prepare: Callable, index: int, payload, duration: float, ready, results) -> None:
    connections.close_all()
    try:
        try:
            attempt = prepare(index, payload)
        except BaseException:
            ready.abort()  # nobody waits for a client that will never be ready
            raise
        ready.wait(timeout=_SETUP_TIMEOUT)
        counts = attempts_count(attempt, time.monotonic() + duration)
        results.put((counts, time.monotonic()))
    except threading.BrokenBarrierError:
        results.put((_CRASHED, None))  # another client could not set up; it says why
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the benchmark
        results.put((_CRASHED, repr(exc)))
    finally:
        connections.close_all()


def _run(command: list[str], env: dict) -> str:
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env}, check=False)
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise CommandError(f"{command[0]} exited {done.returncode}")
    return done.stdout + done.stderr
