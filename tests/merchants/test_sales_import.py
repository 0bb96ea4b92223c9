import datetime
from decimal import Decimal

import pytest

from apps.core.errors import ValidationFailed
from apps.merchants.models import DailySales
from apps.merchants.sales_rows import sales_csv_read, sales_rows_validate
from apps.merchants.services import daily_sales_import

TODAY = datetime.date(2026, 11, 28)
HEADER = "date,gross_sales,order_count,refunds,chargebacks"


def _csv(*lines):
    return ("\n".join([HEADER, *lines]) + "\n").encode()


def test_a_good_file_imports_every_day_and_regrades_the_merchant(merchant, merchant_user):
    rows = sales_rows_validate(sales_csv_read(_csv("2026-11-01,1000.00,10,0,0", "2026-11-02,2500.50,21,10.00,0")),
                               today=TODAY, first_row_number=2)
    assessment = daily_sales_import(merchant=merchant, rows=rows, source="csv", actor=merchant_user)
    assert DailySales.objects.filter(merchant=merchant).count() == 2
    assert assessment.merchant_id == merchant.pk


def test_one_bad_row_rejects_the_whole_file_with_line_numbers():
    raw = sales_csv_read(_csv("2026-11-01,1000.00,10,0,0", "2026-11-31,abc,-1,0,0", "2026-11-03,5.001,1,0,0"))
    with pytest.raises(ValidationFailed) as exc:
        sales_rows_validate(raw, today=TODAY, first_row_number=2)
    errors = exc.value.errors
    assert {(e["row"], e["field"]) for e in errors} == {
        (3, "date"), (3, "gross_sales"), (3, "order_count"), (4, "gross_sales")}
    assert "2 row(s) have problems; nothing was imported" in exc.value.message


@pytest.mark.parametrize("line,message", [
    ("2026-12-01,10,1,0,0", "in the future"),
    ("2026-11-01,10,1,8,5", "exceed gross sales"),
    ("2026-11-01,99999999999999999,1,0,0", "larger than any plausible amount"),
    ("2026-11-01,,1,0,0", "is required"),
    ("2026-11-01,NaN,1,0,0", "is not an amount"),
    ("2001-01-01,10,1,0,0", "too far back to be plausible"),
    ("2026-11-01,10,99999999999,0,0", "larger than any plausible count"),
])
def test_implausible_rows_are_explained(line, message):
    with pytest.raises(ValidationFailed) as exc:
        sales_rows_validate(sales_csv_read(_csv(line)), today=TODAY)
    assert any(message in e["message"] for e in exc.value.errors)


def test_the_same_day_twice_in_one_file_is_an_error():
    with pytest.raises(ValidationFailed) as exc:
        sales_rows_validate(sales_csv_read(_csv("2026-11-01,1,1,0,0", "2026-11-01,2,1,0,0")), today=TODAY,
                            first_row_number=2)
    assert exc.value.errors == [{"row": 3, "field": "date", "message": "2026-11-01 already appears on row 2"}]


@pytest.mark.parametrize("data,code", [
    (b"day,amount\n2026-11-01,5\n", "CSV_BAD_HEADER"),
    (b"\xff\xfe\x00garbage", "CSV_NOT_TEXT"),
    (f"{HEADER}\n".encode(), "SALES_EMPTY"),
])
def test_unusable_files_are_refused_whole(data, code):
    with pytest.raises(ValidationFailed) as exc:
        sales_rows_validate(sales_csv_read(data), today=TODAY)
    assert exc.value.code == code


def test_a_day_sent_again_replaces_its_figures(merchant, merchant_user):
    for gross in ("100.00", "250.00"):
        rows = sales_rows_validate([{"date": "2026-11-01", "gross_sales": gross, "order_count": 1,
                                     "refunds": "0", "chargebacks": "0"}], today=TODAY)
        daily_sales_import(merchant=merchant, rows=rows, source="api", actor="api:test")
    assert list(DailySales.objects.filter(merchant=merchant).values_list("gross_sales", flat=True)) == [Decimal("250.00")]


def test_float_amounts_are_refused_with_a_hint():
    with pytest.raises(ValidationFailed) as exc:
        sales_rows_validate([{"date": "2026-11-01", "gross_sales": 1234.5, "order_count": 1, "refunds": "0",
                              "chargebacks": "0"}], today=TODAY)
    assert exc.value.errors[0]["message"] == '1234.5 must be sent as a string, e.g. "1234.50", so no precision is lost'
