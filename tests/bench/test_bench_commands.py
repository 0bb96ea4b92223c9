"""The throughput benchmarks run end to end — scratch database, client processes, pgbench, the checks after — and
print ONE JSON line with the figures the non-functional targets are read from."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def run(command: str, *args: str) -> subprocess.CompletedProcess:
    """Run `manage.py <command>` as a user would; its scratch databases are named after this test database."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}{':' + db['PASSWORD'] if db['PASSWORD'] else ''}@{db['HOST'] or '127.0.0.1'}:" \
          f"{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "orderfin.settings.test"}
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), command, *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=False)


def bench(command: str, *args: str) -> dict:
    """A throughput benchmark with tiny settings: its one JSON line."""
    done = run(command, "--duration", "1", "--scale", "1", *args)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    return json.loads(lines[0])


@pytest.mark.django_db
def test_bench_ledger_prints_one_json_line():
    figures = bench("bench_ledger", "--clients", "2")
    assert figures["postings_per_s"] > 0 and figures["pgbench_tps"] > 0
    assert figures["ratio"] == round(figures["postings_per_s"] / figures["pgbench_tps"], 3)
    assert figures["cap_violations"] == 0 and figures["errors"] == 0


@pytest.mark.django_db
def test_bench_repayments_prints_one_json_line_and_reconciles():
    figures = bench("bench_repayments", "--clients", "2", "--loans", "40")
    assert figures["repayments_per_s"] > 0 and figures["pgbench_tps"] > 0
    assert figures["ratio"] == round(figures["repayments_per_s"] / figures["pgbench_tps"], 3)
    assert figures["reconciliation_difference"] == "0.00"
    assert figures["errors"] == 0 and figures["stored"] == figures["posted"] > 0


@pytest.mark.django_db
def test_bench_eod_prints_one_json_line_and_a_rerun_adds_nothing():
    done = run("bench_eod", "--loans", "300", "--chunk-size", "100", "--workers", "1", "--timeout", "300")
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.strip().splitlines()
    figures = json.loads(line)
    assert figures["loans"] == 300 and figures["eod_seconds"] > 0 and figures["peak_rss_mb"] > 0
    assert figures["rerun_new_rows"] == 0 and figures["reconciliation_difference"] == "0.00"
