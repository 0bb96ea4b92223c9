import datetime
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.repayments.apr import apr_irr, schedule_cash_flows
from apps.repayments.schedules import (
    schedule_bullet,
    schedule_equal_installment,
    schedule_equal_principal,
    schedule_interest_only,
)

D = Decimal
BASE = ["--principal", "100000.00", "--annual-rate", "0.1200", "--start", "2026-01-31"]


def quote(*args) -> str:
    out = StringIO()
    call_command("loan_quote", *args, stdout=out)
    return out.getvalue()


def expected(rows, start) -> dict:
    return {
        "installments": [{"due_date": row.due_date.isoformat(), "principal": str(row.principal),
                          "interest": str(row.interest), "total": str(row.total)} for row in rows],
        "total_principal": str(sum(row.principal for row in rows)),
        "total_interest": str(sum(row.interest for row in rows)),
        "apr": str(apr_irr(schedule_cash_flows(D("100000.00"), start, rows))),
    }


@pytest.mark.parametrize(("method", "fn"), [
    ("equal_installment", schedule_equal_installment),
    ("equal_principal", schedule_equal_principal),
    ("interest_only", schedule_interest_only),
])
def test_json_matches_the_schedule_functions(method, fn):
    start = datetime.date(2026, 1, 31)
    result = json.loads(quote("--method", method, *BASE, "--term-months", "12", "--json"))
    rows = fn(principal=D("100000.00"), annual_rate=D("0.12"), term_months=12, start=start)
    assert result == expected(rows, start)
    assert list(result) == ["installments", "total_principal", "total_interest", "apr"]
    assert result["installments"][0]["due_date"] == "2026-02-28"
    assert result["total_principal"] == "100000.00"


def test_equal_installment_json_figures():
    result = json.loads(quote("--method", "equal_installment", *BASE, "--term-months", "12", "--json"))
    assert {row["total"] for row in result["installments"][:-1]} == {"8884.88"}
    assert result["total_interest"] == "6618.53"
    assert D(result["apr"]).as_tuple().exponent == -4


def test_bullet_defaults_to_start_plus_term_on_act_360():
    result = json.loads(quote("--method", "bullet", *BASE, "--term-months", "1", "--json"))
    rows = schedule_bullet(principal=D("100000.00"), annual_rate=D("0.12"), start=datetime.date(2026, 1, 31),
                           maturity=datetime.date(2026, 2, 28))
    assert result == expected(rows, datetime.date(2026, 1, 31))
    assert result["installments"][0]["interest"] == "933.33"  # 100000 × 0.12 × 28 / 360


def test_bullet_with_maturity_and_act_365():
    result = json.loads(quote("--method", "bullet", "--principal", "100000.00", "--annual-rate", "0.12",
                              "--start", "2026-01-01", "--maturity", "2026-04-01", "--day-count", "ACT/365", "--json"))
    assert result["installments"] == [{"due_date": "2026-04-01", "principal": "100000.00", "interest": "2958.90",
                                       "total": "102958.90"}]
    assert result["total_interest"] == "2958.90"


def test_table_without_json():
    text = quote("--method", "equal_installment", *BASE, "--term-months", "12")
    assert "2026-02-28" in text and "8884.88" in text and "6618.53" in text and "106618.53" in text
    assert "APR" in text
    assert len(text.splitlines()) == 1 + 12 + 1 + 1  # header, rows, total, APR


@pytest.mark.parametrize("args", [
    ["--method", "balloon", *BASE, "--term-months", "12"],
    ["--method", "equal_installment", *BASE],  # no term
    ["--method", "bullet", *BASE],  # neither term nor maturity
    ["--method", "equal_installment", *BASE, "--term-months", "0"],
    ["--method", "bullet", *BASE, "--term-months", "0"],
    ["--method", "equal_installment", *BASE, "--term-months", "twelve"],
    ["--method", "equal_installment", "--principal", "abc", "--annual-rate", "0.12", "--start", "2026-01-01",
     "--term-months", "12"],
    ["--method", "equal_installment", "--principal", "0", "--annual-rate", "0.12", "--start", "2026-01-01",
     "--term-months", "12"],
    ["--method", "equal_installment", "--principal", "-100", "--annual-rate", "0.12", "--start", "2026-01-01",
     "--term-months", "12"],
    ["--method", "equal_installment", "--principal", "100.001", "--annual-rate", "0.12", "--start", "2026-01-01",
     "--term-months", "12"],
    ["--method", "equal_installment", "--principal", "100", "--annual-rate", "12", "--start", "2026-01-01",
     "--term-months", "12"],
    ["--method", "equal_installment", "--principal", "100", "--annual-rate", "0.12", "--start", "2026-02-30",
     "--term-months", "12"],
    ["--method", "equal_installment", *BASE, "--term-months", "12", "--maturity", "2027-01-31"],
    ["--method", "equal_installment", *BASE, "--term-months", "12", "--day-count", "ACT/365"],
    ["--method", "bullet", *BASE, "--maturity", "2026-01-01"],  # before the start
    ["--method", "bullet", *BASE, "--maturity", "soon"],
    ["--method", "bullet", *BASE, "--term-months", "3", "--day-count", "30/360"],
    # Due dates past 31 December 9999
    ["--method", "bullet", "--principal", "1000.00", "--annual-rate", "0.12", "--start", "9999-12-01", "--term-months", "1"],
    ["--method", "equal_installment", "--principal", "1000.00", "--annual-rate", "0.12", "--start", "9999-06-01",
     "--term-months", "12"],
])
def test_bad_arguments_raise_command_error(args):
    with pytest.raises(CommandError):
        quote(*args, "--json")
