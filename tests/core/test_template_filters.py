from decimal import Decimal

import pytest

from apps.core.templatetags.orderfin import percent


@pytest.mark.parametrize(("rate", "shown"), [(Decimal("0.0724"), "7.24%"), (Decimal("0.12"), "12.00%"),
                                             (Decimal("0.000050"), "0.01%"), (Decimal("0.0000499"), "0.00%"),
                                             (None, "—")])
def test_a_rate_reads_as_a_percentage_to_the_hundredth_half_up(rate, shown):
    assert percent(rate) == shown
