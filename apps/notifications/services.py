"""Writing notices and their outbox messages, set-based, inside the caller's transaction."""

from django.db import connection

# A notice per row of the caller's SELECT, unless it was already given (the unique constraint
# makes a rerun a no-op), and one outbox message per channel to the merchant's contact.
_INSERT_SQL = """
WITH src AS ({select}),
ins AS (
    INSERT INTO notifications_notice (merchant_id, loan_id, kind, due_date, business_date, title, body, channels)
    SELECT merchant_id, loan_id, kind, due_date, business_date, title, body, channels FROM src
    ON CONFLICT DO NOTHING
    RETURNING id, merchant_id, title, body, channels
),
out AS (
    INSERT INTO notifications_outboxmessage (notice_id, channel, recipient, subject, body, state, attempts, last_error)
    SELECT ins.id, ch.channel, CASE ch.channel WHEN 'sms' THEN m.contact_phone ELSE m.contact_email END,
           ins.title, ins.body, 'pending', 0, ''
    FROM ins JOIN merchants_merchant m ON m.id = ins.merchant_id
    CROSS JOIN LATERAL unnest(string_to_array(ins.channels, ',')) AS ch(channel)
    RETURNING 1
)
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM out)
"""


def notices_insert(select_sql: str, params=()) -> int:
    """Insert the notices a SELECT describes; returns how many were new.

    The SELECT yields the columns merchant_id, loan_id, kind, due_date, business_date,
    title, body, channels (comma-separated: email, sms).
    """
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL.format(select=select_sql), params)
        notices, _messages = cursor.fetchone()
    return notices


def notice_send(*, merchant, kind: str, title: str, body: str, business_date, loan=None, due_date=None,
                channels: str = "email") -> int:
    """One notice to one merchant (1 if written, 0 if it had been given already)."""
    return notices_insert(
        "SELECT %s::bigint AS merchant_id, %s::bigint AS loan_id, %s::varchar AS kind, %s::date AS due_date,"
        " %s::date AS business_date, %s::varchar AS title, %s::text AS body, %s::varchar AS channels",
        [merchant.pk, getattr(loan, "pk", loan), kind, due_date, business_date, title[:200], body, channels])
