import datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from apps.merchants.models import DailySales
from apps.merchants.scoring import DEFAULT_PARAMETERS, ScoreInputs, score_compute
from apps.merchants.services import credit_profile_recompute

D = Decimal


def _inputs(**overrides):
    base = dict(window_sales=D("1200000"), window_refunds=D("12000"), tenure_days=400,
                last_30_sales=D("440000"), prior_60_sales=D("760000"), prior_60_days_covered=True)
    return ScoreInputs(**{**base, **overrides})


def test_a_large_clean_growing_long_standing_merchant_is_grade_a():
    result = score_compute(inputs=_inputs(), parameters=DEFAULT_PARAMETERS)
    # volume 25 (≥1M) + refunds 30 (1% ≤ 2%) + tenure 20 (≥365) + trend 20 (+15.79% ≥ +10%)
    assert (result.score, result.grade) == (95, "A")
    # 1.5 × monthly average (1,200,000 × 30 / 90 = 400,000) = 600,000
    assert result.credit_limit == D("600000.00")
    assert [r["factor"] for r in result.reasons] == ["volume", "refund_rate", "tenure_days", "trend", "result"]


def test_high_refunds_and_shrinking_sales_pull_the_grade_down():
    result = score_compute(inputs=_inputs(window_refunds=D("180000"), last_30_sales=D("300000")),
                           parameters=DEFAULT_PARAMETERS)
    # volume 25 + refunds 4 (15%) + tenure 20 + trend 6 (−21%) = 55 → C, limit 0.8 × 400,000
    assert (result.score, result.grade, result.credit_limit) == (55, "C", D("320000.00"))
    assert "15.00%" in result.reasons[1]["explanation"]


def test_a_merchant_without_sales_gets_grade_e_and_no_limit():
    result = score_compute(inputs=ScoreInputs(D(0), D(0), 0, D(0), D(0), False), parameters=DEFAULT_PARAMETERS)
    assert (result.grade, result.credit_limit) == ("E", D("0.00"))
    assert result.reasons[1]["explanation"].startswith("No sales")


amounts = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)


@given(window=amounts, refund_share=st.decimals(0, 1, places=4), tenure=st.integers(0, 5000),
       last30=amounts, prior60=amounts, covered=st.booleans())
def test_score_grade_and_limit_stay_in_range(window, refund_share, tenure, last30, prior60, covered):
    result = score_compute(inputs=ScoreInputs(window, window * refund_share, tenure, last30, prior60, covered),
                           parameters=DEFAULT_PARAMETERS)
    assert 0 <= result.score <= 100
    assert result.grade in "ABCDE"
    assert D(0) <= result.credit_limit <= window * D("0.5") + D("0.01")
    assert result.credit_limit % 1000 == 0


@given(window=amounts, extra=amounts)
def test_more_sales_never_lower_the_score(window, extra):
    low = score_compute(inputs=_inputs(window_sales=window + 1), parameters=DEFAULT_PARAMETERS)
    high = score_compute(inputs=_inputs(window_sales=window + 1 + extra), parameters=DEFAULT_PARAMETERS)
    assert high.score >= low.score


def test_recompute_reads_the_trailing_window_from_the_database(merchant, merchant_user):
    as_of = datetime.date(2026, 6, 30)
    DailySales.objects.bulk_create([
        DailySales(merchant=merchant, date=as_of - datetime.timedelta(days=d), gross_sales=D("20000.00"),
                   order_count=100, refunds=D("100.00"), chargebacks=D("100.00"), source="csv")
        for d in range(200)
    ])
    assessment = credit_profile_recompute(merchant=merchant, actor=merchant_user, as_of=as_of)
    assert assessment.inputs["window_sales"] == "1800000.00"  # 90 days × 20,000
    assert assessment.inputs["tenure_days"] == "200"
    # volume 25 + refunds 30 (1%) + tenure 15 (≥180) + trend 14 (flat) = 84 → A
    assert (assessment.score, assessment.grade, assessment.credit_limit) == (84, "A", D("900000.00"))
    merchant = type(merchant).objects.get(pk=merchant.pk)
    assert (merchant.risk_grade, merchant.credit_limit) == ("A", D("900000.00"))
