"""Row locks for the ledger, in the one global order every money service follows:

    lender position → merchant (exposure) → loan → installment → facility → account balances (by id)

The lender position is always first, so two services touching the same lender's limits
queue on one row instead of interleaving their read-check-write; everything after it is
locked in primary-key order, so no two transactions can wait on each other in a cycle.
A service that can lower net capital or raise borrowings holds the position lock
exclusively, so what it reads after it is current. Writers that can only move a limit's
figures the safe way hold less: loan funding and principal repayment a KEY SHARE lock
(their checks ride on the exposure and cash rows they update, see posting.principal_post,
which updates its balance rows last), a repayment of a loan with no
partner share none, and end of day none (it holds loan rows, which come after the
position in this order). Row locks after the position are taken by the posting call
itself (balance rows explicitly in account-id order, see posting.post_locked). The money
services take this lock and read their decision state in one round trip
(selectors.position_lock_state_get); lender_position_lock is for everything else.
"""

from decimal import Decimal

from django.db import connection

from .models import LenderPosition


def lender_position_lock(lender) -> LenderPosition:
    """Lock (creating on first use) the lender's position row. Call inside a transaction, first."""
    with connection.cursor() as cursor:  # raw: on every money service's critical path
        cursor.execute("SELECT id FROM ledger_lenderposition WHERE lender_id = %s FOR UPDATE", [lender.pk])
        row = cursor.fetchone()
    if row is None:
        from .services import ledger_setup_ensure

        ledger_setup_ensure(lender=lender)
        return LenderPosition.objects.select_for_update().get(lender_id=lender.pk)
    return LenderPosition(id=row[0], lender_id=lender.pk)


def merchant_exposure_lock(merchant_id: int):
    """Lock a merchant's exposure row (second in the order); its principal, or None if it has none yet."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT principal FROM ledger_merchantexposure WHERE merchant_id = %s FOR UPDATE", [merchant_id])
        row = cursor.fetchone()
    return row[0] if row else None


def balances_lock(keys: list[tuple[int, str]]) -> dict[tuple[int, str], Decimal]:
    """Lock every slice of the balances of (account id, currency) pairs, in (account id, currency, slice) order.

    Returns {(account_id, currency): balance, the sum of its slices} for the balances that exist.
    """
    if not keys:
        return {}
    placeholders = ", ".join(["(%s, %s)"] * len(keys))
    params = [v for key in keys for v in key]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT account_id, currency, sum(balance) FROM (SELECT account_id, currency, balance FROM ledger_accountbalance"
            f" WHERE (account_id, currency) IN ({placeholders}) ORDER BY account_id, currency, slice FOR UPDATE) b"
            " GROUP BY account_id, currency",
            params,
        )
        return {(row[0], row[1]): row[2] for row in cursor.fetchall()}


def balance_rows_lock(*, lender, codes) -> None:
    """Lock every slice of the lender's base-currency balances of these account codes, in (account id, slice) order.

    For a transaction about to post several entries: each posting locks its own rows in order, but
    together they would not be, and two such transactions could deadlock; after this they don't wait.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT b.id FROM ledger_accountbalance b JOIN ledger_account a ON a.id = b.account_id"
                       " WHERE a.lender_id = %s AND a.code = ANY(%s) AND b.currency = %s"
                       " ORDER BY b.account_id, b.slice FOR UPDATE OF b",
                       [lender.pk, sorted(codes), lender.base_currency])
