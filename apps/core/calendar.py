"""The business calendar: the one place that says what 'today' is for the books."""

import datetime

from django.utils import timezone


def business_date_today() -> datetime.date:
    """Today's business date in the lender's time zone (settings.TIME_ZONE, whatever zone a request activated)."""
    return timezone.localdate(timezone=timezone.get_default_timezone())
