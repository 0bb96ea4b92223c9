from decimal import Decimal

from rest_framework import serializers


class MoneyField(serializers.DecimalField):
    """An amount in cents sent as a decimal string; JSON floats are refused so no precision is ever lost."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 20)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("min_value", Decimal("0.01"))
        kwargs.setdefault("help_text", 'A decimal string, e.g. "1200.00"')
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, float):
            raise serializers.ValidationError(f'Send amounts as strings, e.g. "{data:.2f}", so no precision is lost.')
        return super().to_internal_value(data)
