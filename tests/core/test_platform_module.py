"""The wiring folder is named platform/, yet `platform` must stay the standard library's."""

import os
import platform
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()


def test_platform_is_the_standard_library_in_the_test_process():
    assert Path(platform.__file__).resolve().parent == STDLIB
    assert platform.system() == "Linux"
    assert not (ROOT / "platform" / "__init__.py").exists()


@pytest.fixture
def celery_worker_process():
    """A real Celery worker process started the way `make run` starts one."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "orderfin.settings.test",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "orderfin", "worker", "--pool", "solo", "-Q", "probe",
         "-n", f"probe-{os.getpid()}@%h", "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    yield proc
    proc.terminate()
    proc.wait(timeout=20)


def test_platform_is_the_standard_library_in_a_worker(celery_worker_process):
    from apps.core.tasks import runtime_probe

    assert settings.CELERY_BROKER_URL.startswith("redis://")
    result = runtime_probe.apply_async(queue="probe").get(timeout=60)
    assert Path(result["module_file"]).resolve().parent == STDLIB
    assert result["system"] == "Linux"
