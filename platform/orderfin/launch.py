"""`make run`: the whole platform on one machine, for development and demos.

Brings up PostgreSQL and Redis (see devservices), migrates, collects static files,
seeds the demo data (idempotent), then runs the web server, a Celery worker and Celery
beat. Ctrl-C stops everything, including the embedded services started here; if any
process dies, the rest are stopped and the exit status is non-zero.
"""

import os
import signal
import subprocess
import sys
import time

from orderfin import devservices

ROOT = devservices.ROOT
MANAGE = [sys.executable, str(ROOT / "manage.py")]
CELERY = [sys.executable, "-m", "celery", "-A", "orderfin"]
GRACE_SECONDS = 15


def _banner(port: str) -> str:
    base = f"http://127.0.0.1:{port}"
    return "\n".join(
        [
            "",
            "OrderFin is running:",
            f"  merchant portal  {base}/portal/",
            f"  back office      {base}/backoffice/",
            f"  partner API docs {base}/api/docs/",
            "Demo logins: see README.md (also printed by `manage.py seed_demo`).",
            "Press Ctrl-C to stop.",
            "",
        ]
    )


def _stop(procs: dict[str, subprocess.Popen]) -> None:
    # Each child leads its own process group, so this also reaches celery's pool
    # processes; SIGTERM is a warm shutdown for celery.
    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> int:
    stopping = False

    def request_stop(signum, _frame):
        nonlocal stopping
        stopping = True

    try:
        env, started = devservices.ensure_services()
    except devservices.ServiceError as exc:
        print(f"launch: {exc}", file=sys.stderr)
        return 1
    os.environ.update(env)
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderfin.settings")
    # Children find `orderfin` and `apps` even without the venv's .pth file.
    paths = [str(ROOT), str(ROOT / "platform"), os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    port = os.environ.get("PORT", "8000")

    procs: dict[str, subprocess.Popen] = {}
    try:
        for args in (["migrate", "--noinput"], ["collectstatic", "--noinput"], ["seed_demo"]):
            subprocess.run(MANAGE + args, cwd=ROOT, check=True)

        # Children get their own process groups: Ctrl-C reaches only us, and we stop
        # them in an orderly way (rather than racing their own SIGINT handling).
        commands = {
            # --noreload: a single process we can supervise and stop reliably.
            "web": MANAGE + ["runserver", f"127.0.0.1:{port}", "--noreload"],
            "worker": CELERY + ["worker", "-l", "info", "--concurrency", "2"],
            "beat": CELERY + ["beat", "-l", "info"],  # scheduler: settings (database)
        }
        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        for name, command in commands.items():
            procs[name] = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
        print(_banner(port), flush=True)

        while not stopping:
            dead = {name: p.returncode for name, p in procs.items() if p.poll() is not None}
            if dead:
                print(f"launch: process exited unexpectedly: {dead}; stopping", file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    except subprocess.CalledProcessError as exc:
        print(f"launch: {' '.join(exc.cmd[1:])} failed ({exc.returncode})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C during migrate/collectstatic/seed
        return 130
    finally:
        print("launch: stopping...", file=sys.stderr, flush=True)
        _stop(procs)
        devservices.stop_services(started)


if __name__ == "__main__":
    sys.exit(main())
