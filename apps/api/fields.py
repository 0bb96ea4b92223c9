import re
from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.money import MAX_AMOUNT

# What the field takes, for the schema: a positive number of whole cents, at most MAX_AMOUNT (12 digits before the point).
_MONEY_SCHEMA = {"type": "string", "format": "decimal", "pattern": r"^\d{1,12}(?:\.\d{1,2})?$", "example": "1200.00",
                 "description": f'A decimal string from "0.01" to "{MAX_AMOUNT}", e.g. "1200.00"'}

_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


@extend_schema_field(_MONEY_SCHEMA)
class MoneyField(serializers.DecimalField):
    """A positive amount in cents sent as a decimal string; JSON floats are refused so no precision is ever lost."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("min_value", Decimal("0.01"))
        kwargs.setdefault("max_value", MAX_AMOUNT)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, float):
            raise serializers.ValidationError(f'Send amounts as strings, e.g. "{data:.2f}", so no precision is lost.')
        # Python's Decimal also reads " 5.00 ", "1e2", "+5" and "NaN"; the schema's pattern takes none of them. (A sign,
        # too many digits or decimals pass here, for the range and places checks to name what is wrong.)
        if isinstance(data, bool) or isinstance(data, str) and not _PLAIN_DECIMAL.fullmatch(data):
            raise serializers.ValidationError('Send a plain decimal string such as "1200.00": digits, then optionally a '
                                              "point and the cents.")
        return super().to_internal_value(data)
