from decimal import Decimal

import pytest

from apps.core.errors import Conflict, InvalidTransition, ValidationFailed
from apps.financing.models import OrderState, PresaleOrder
from apps.financing.order_rows import order_rows_validate, orders_csv_read
from apps.financing.services import order_event_apply, orders_ingest

ORDER = {"external_id": "A-1", "buyer_id": "b-1", "amount": "500.00", "paid_amount": "200.00", "currency": "CNY",
         "paid_at": "2026-11-01T10:00:00+08:00", "expected_ship_date": "2026-12-01",
         "expected_settlement_date": "2026-12-20"}


def _order(**changes):
    return {**ORDER, **changes}


def test_orders_are_ingested_once_per_external_id(merchant):
    rows = order_rows_validate([_order(), _order(external_id="A-2")], currency="CNY")
    assert orders_ingest(merchant=merchant, rows=rows, source="api", actor="api:m") == {"created": 2, "unchanged": 0}
    assert orders_ingest(merchant=merchant, rows=rows, source="api", actor="api:m") == {"created": 0, "unchanged": 2}
    assert PresaleOrder.objects.filter(merchant=merchant).count() == 2


def test_a_resend_with_different_figures_is_a_conflict_and_writes_nothing(merchant):
    orders_ingest(merchant=merchant, rows=order_rows_validate([_order()], currency="CNY"), source="api", actor="x")
    changed = order_rows_validate([_order(external_id="NEW"), _order(paid_amount="300.00")], currency="CNY")
    with pytest.raises(Conflict) as exc:
        orders_ingest(merchant=merchant, rows=changed, source="api", actor="x")
    assert "A-1 is already recorded with different paid_amount" in exc.value.errors[0]["message"]
    assert (exc.value.errors[0]["row"], exc.value.errors[0]["field"]) == (2, "external_id")  # the second row sent
    assert not PresaleOrder.objects.filter(external_id="NEW").exists()


@pytest.mark.parametrize("changes,field,message", [
    ({"paid_amount": "600.00"}, "paid_amount", "more than the order amount"),
    ({"amount": "-5"}, "amount", "greater than zero"),
    ({"amount": "0"}, "amount", "greater than zero"),
    ({"currency": "USD"}, "currency", "orders must be in CNY"),
    ({"paid_at": "2026-11-01T10:00:00"}, "paid_at", "time zone offset"),
    ({"paid_at": "2099-01-01T00:00:00+00:00"}, "paid_at", "in the future"),
    ({"expected_settlement_date": "2026-11-30"}, "expected_settlement_date", "before the expected ship date"),
    ({"buyer_id": ""}, "buyer_id", "is required"),
])
def test_bad_orders_are_refused_with_the_field_and_reason(changes, field, message):
    with pytest.raises(ValidationFailed) as exc:
        order_rows_validate([_order(), _order(external_id="B", **changes)], currency="CNY")
    assert exc.value.code == "ORDER_ROWS_INVALID"
    assert [(e["row"], e["field"]) for e in exc.value.errors] == [(2, field)]
    assert message in exc.value.errors[0]["message"]


def test_orders_csv_is_read_with_line_numbers():
    header = ",".join(ORDER)
    good = ",".join(ORDER.values())
    bad = good.replace("A-1", "A-2").replace("200.00", "oops")
    with pytest.raises(ValidationFailed) as exc:
        order_rows_validate(orders_csv_read(f"{header}\n{good}\n{bad}\n".encode()), currency="CNY", first_row_number=2)
    assert exc.value.errors == [{"row": 3, "field": "paid_amount", "message": "'oops' is not an amount"}]


def test_the_order_lifecycle_runs_to_settlement(merchant):
    orders_ingest(merchant=merchant, rows=order_rows_validate([_order()], currency="CNY"), source="api", actor="x")
    order = PresaleOrder.objects.get()
    for event in ("shipped", "delivered"):
        order_event_apply(order=order, event=event, actor="api:m")
    order_event_apply(order=order, event="settled", actor="api:m", settled_amount="200.00")
    order = PresaleOrder.objects.get()
    assert (order.state, order.settled_amount) == (OrderState.SETTLED, Decimal("200.00"))


def test_impossible_transitions_are_refused_clearly(merchant):
    orders_ingest(merchant=merchant, rows=order_rows_validate([_order()], currency="CNY"), source="api", actor="x")
    order = PresaleOrder.objects.get()
    with pytest.raises(InvalidTransition, match="Cannot deliver a pre-sale order that is paid"):
        order_event_apply(order=order, event="delivered", actor="x")
    order_event_apply(order=order, event="refunded", actor="x")
    with pytest.raises(InvalidTransition, match="that is refunded"):
        order_event_apply(order=order, event="shipped", actor="x")


def test_a_resolved_dispute_returns_the_order_to_where_it_was(merchant):
    orders_ingest(merchant=merchant, rows=order_rows_validate([_order()], currency="CNY"), source="api", actor="x")
    order = PresaleOrder.objects.get()
    order_event_apply(order=order, event="shipped", actor="x")
    order_event_apply(order=order, event="disputed", actor="x")
    order_event_apply(order=order, event="dispute_resolved", actor="x")
    assert PresaleOrder.objects.get().state == OrderState.SHIPPED


@pytest.mark.parametrize("amount,code", [(None, "SETTLED_AMOUNT_REQUIRED"), ("250.00", "SETTLED_AMOUNT_INVALID"),
                                         ("-1", "SETTLED_AMOUNT_INVALID"), ("1.005", "SETTLED_AMOUNT_INVALID")])
def test_settlement_amount_must_be_within_what_was_paid(merchant, amount, code):
    orders_ingest(merchant=merchant, rows=order_rows_validate([_order()], currency="CNY"), source="api", actor="x")
    order = PresaleOrder.objects.get()
    order_event_apply(order=order, event="shipped", actor="x")
    order_event_apply(order=order, event="delivered", actor="x")
    with pytest.raises(ValidationFailed) as exc:
        order_event_apply(order=order, event="settled", actor="x", settled_amount=amount)
    assert exc.value.code == code and [e["field"] for e in exc.value.errors] == ["settled_amount"]
    assert PresaleOrder.objects.get().state == OrderState.DELIVERED


def test_the_database_refuses_an_order_paid_beyond_its_amount(merchant):
    from django.db import IntegrityError

    from tests.financing.factories import PresaleOrderFactory

    with pytest.raises(IntegrityError):
        PresaleOrderFactory(merchant=merchant, amount=Decimal("10.00"), paid_amount=Decimal("11.00"))


def test_unknown_events_are_refused(merchant):
    from tests.financing.factories import PresaleOrderFactory

    order = PresaleOrderFactory(merchant=merchant)
    with pytest.raises(ValidationFailed, match="Unknown event"):
        order_event_apply(order=order, event="teleported", actor="x")
    assert PresaleOrder.objects.get().state == OrderState.PAID
