import platform

from celery import shared_task


@shared_task(name="core.runtime_probe")
def runtime_probe() -> dict:
    """Reports which `platform` module a worker imported (it must be the standard library's)."""
    return {"system": platform.system(), "module_file": platform.__file__}
