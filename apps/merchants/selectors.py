import datetime
from decimal import Decimal

from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.functions import Coalesce

from .models import CreditAssessment, DailySales, KycState, Merchant, ScoringPolicy
from .scoring import ScoreInputs

ZERO = Decimal("0")


def merchants_for_lender(*, lender):
    """Every staff query for merchants starts here: scoped to the caller's lender."""
    return Merchant.objects.filter(lender=lender)


def kyc_queue_list(*, lender):
    return merchants_for_lender(lender=lender).filter(kyc_state=KycState.SUBMITTED).order_by("kyc_submitted_at", "id")


def scoring_policy_in_force(*, lender, as_of: datetime.date) -> ScoringPolicy:
    return ScoringPolicy.objects.filter(lender=lender, effective_from__lte=as_of).order_by("-effective_from", "-version").first()


def score_inputs_get(*, merchant: Merchant, as_of: datetime.date, window_days: int) -> ScoreInputs:
    """All scoring inputs in one aggregate query over the merchant's sales."""
    window_start = as_of - datetime.timedelta(days=window_days - 1)
    last30_start = as_of - datetime.timedelta(days=29)
    prior60_start = last30_start - datetime.timedelta(days=60)
    money = lambda expr: Coalesce(expr, ZERO)  # noqa: E731
    agg = DailySales.objects.filter(merchant=merchant, date__lte=as_of).aggregate(
        first_day=Min("date"),
        window_sales=money(Sum("gross_sales", filter=Q(date__gte=window_start))),
        window_refunds=money(
            Sum("refunds", filter=Q(date__gte=window_start)) + Sum("chargebacks", filter=Q(date__gte=window_start))
        ),
        last_30=money(Sum("gross_sales", filter=Q(date__gte=last30_start))),
        prior_60=money(Sum("gross_sales", filter=Q(date__gte=prior60_start, date__lt=last30_start))),
    )
    first_day = agg["first_day"]
    return ScoreInputs(
        window_sales=agg["window_sales"],
        window_refunds=agg["window_refunds"],
        tenure_days=(as_of - first_day).days + 1 if first_day else 0,
        last_30_sales=agg["last_30"],
        prior_60_sales=agg["prior_60"],
        prior_60_days_covered=bool(first_day and first_day <= prior60_start),
    )


def credit_assessment_latest(*, merchant: Merchant) -> CreditAssessment | None:
    return merchant.credit_assessments.select_related("policy").first()


def sales_summary_get(*, merchant: Merchant) -> dict:
    return DailySales.objects.filter(merchant=merchant).aggregate(
        days=Count("id"), first_day=Min("date"), last_day=Max("date"),
        gross_sales=Coalesce(Sum("gross_sales"), ZERO), orders=Coalesce(Sum("order_count"), 0),
    )
