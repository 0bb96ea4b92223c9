"""The one money module: Decimal amounts quantised with explicit rounding.

No float ever touches money. Customer-facing amounts round ROUND_HALF_UP to the cent.
"""

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
CURRENCIES = {"CNY": "Chinese yuan", "HKD": "Hong Kong dollar", "USD": "US dollar"}
MAX_AMOUNT = Decimal("999999999999.99")


def to_decimal(value) -> Decimal:
    """Parse a user-supplied amount exactly; floats are refused."""
    if isinstance(value, float):
        raise TypeError("money must never be a float")
    try:
        result = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"{value!r} is not a number") from exc
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return result


def quantize(amount: Decimal, places: Decimal = CENT) -> Decimal:
    return amount.quantize(places, rounding=ROUND_HALF_UP)


def quantize_down(amount: Decimal, places: Decimal = CENT) -> Decimal:
    return amount.quantize(places, rounding=ROUND_DOWN)


def money_field_kwargs() -> dict:
    """Column shape for every amount: 20 digits, 2 places."""
    return {"max_digits": 20, "decimal_places": 2}
