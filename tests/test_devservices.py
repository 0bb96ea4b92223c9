"""The dev/test service bootstrapper: CI never falls back to embedded services."""

import os

import pytest

from orderfin import devservices


def test_ci_without_database_url_fails_instead_of_starting_anything(monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(devservices.ServiceError, match="DATABASE_URL is not set"):
        devservices.ensure_services()
    assert devservices.main(["env"]) == 1


def test_unreachable_redis_is_an_error_with_the_password_hidden(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2@127.0.0.1:1/0")
    with pytest.raises(devservices.ServiceError) as excinfo:
        devservices._ensure_redis([])
    assert "hunter2" not in str(excinfo.value)


def test_pgbench_is_available():
    assert os.access(devservices.pgbench_path(), os.X_OK)


def test_unknown_subcommand_prints_usage(capsys):
    assert devservices.main(["nope"]) == 2
    assert "usage" in capsys.readouterr().err
