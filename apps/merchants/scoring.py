"""The credit scoring model, version 1: trailing sales → score 0–100 → grade A–E → limit.

Four factors, each scored by a threshold table held in ScoringPolicy.parameters (data,
not code, so risk can retune it without a release):

| factor       | input (as of the assessment date)                             | best when   | max |
|--------------|---------------------------------------------------------------|-------------|-----|
| volume       | gross sales over the trailing window (default 90 days)        | high        | 30  |
| refund_rate  | (refunds + chargebacks) ÷ gross sales over the window         | low         | 30  |
| tenure_days  | days since the merchant's first recorded sales day            | long        | 20  |
| trend        | last 30 days' sales ÷ (the 60 days before ÷ 2) − 1            | growing     | 20  |

A factor's points are those of the first row whose threshold the input meets (volume,
tenure and trend: input ≥ threshold; refund rate: input ≤ threshold); none met → 0.
No sales in the window → refund rate scores 0; fewer than 60 days of history before the
last 30 → trend scores `trend_unknown_points`.

Grade: the first row of `grades` whose minimum score is met, else E, then lowered by
`downgrade_notches` when the caller says so (contagion: while the merchant's guarantee group
has a defaulted member, `contagion_downgrade_notches`, default 1). Credit limit:
average monthly sales (window sales × 30 ÷ window days) × the grade's multiple,
rounded down to `limit_rounding`. Every factor's input, points and explanation are kept
as the assessment's reasons, shown to credit officers.
"""

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

DEFAULT_PARAMETERS = {
    "model": "trailing-sales-v1",
    "window_days": 90,
    "volume": [["3000000", 30], ["1000000", 25], ["300000", 18], ["100000", 10]],
    "refund_rate": [["0.02", 30], ["0.05", 22], ["0.10", 12], ["0.20", 4]],
    "tenure_days": [[365, 20], [180, 15], [90, 10], [30, 5]],
    "trend": [["0.10", 20], ["-0.10", 14], ["-0.30", 6]],
    "trend_unknown_points": 6,
    "grades": [[80, "A"], [65, "B"], [50, "C"], [35, "D"]],
    "limit_months_of_sales": {"A": "1.5", "B": "1.2", "C": "0.8", "D": "0.4", "E": "0"},
    "limit_rounding": "1000",
    "contagion_downgrade_notches": 1,
}
GRADE_ORDER = "ABCDE"


@dataclass(frozen=True)
class ScoreInputs:
    window_sales: Decimal
    window_refunds: Decimal  # refunds + chargebacks
    tenure_days: int
    last_30_sales: Decimal
    prior_60_sales: Decimal
    prior_60_days_covered: bool


@dataclass(frozen=True)
class ScoreResult:
    score: int
    grade: str
    credit_limit: Decimal
    reasons: list


def _first_points(table, value, *, at_least: bool) -> int:
    for threshold, points in table:
        threshold = Decimal(str(threshold))
        if (value >= threshold) if at_least else (value <= threshold):
            return points
    return 0


def _max_points(table) -> int:
    return max(points for _, points in table)


def score_compute(*, inputs: ScoreInputs, parameters: dict, downgrade_notches: int = 0,
                  downgrade_reason: str = "") -> ScoreResult:
    p = parameters
    window = p["window_days"]
    reasons = []

    def reason(factor, value, points, table, explanation):
        reasons.append({"factor": factor, "value": value, "points": points,
                        "max": _max_points(table), "explanation": explanation})

    volume_pts = _first_points(p["volume"], inputs.window_sales, at_least=True)
    reason("volume", str(inputs.window_sales), volume_pts, p["volume"],
           f"Gross sales over the last {window} days: {inputs.window_sales:,.2f}.")

    if inputs.window_sales > 0:
        rate = (inputs.window_refunds / inputs.window_sales).quantize(Decimal("0.0001"))
        refund_pts = _first_points(p["refund_rate"], rate, at_least=False)
        reason("refund_rate", str(rate), refund_pts, p["refund_rate"],
               f"Refunds and chargebacks are {rate:.2%} of sales.")
    else:
        reason("refund_rate", None, 0, p["refund_rate"], f"No sales in the last {window} days.")
        refund_pts = 0

    tenure_pts = _first_points(p["tenure_days"], Decimal(inputs.tenure_days), at_least=True)
    reason("tenure_days", inputs.tenure_days, tenure_pts, p["tenure_days"],
           f"Selling for {inputs.tenure_days} days on record.")

    if inputs.prior_60_days_covered and inputs.prior_60_sales > 0:
        growth = (inputs.last_30_sales / (inputs.prior_60_sales / 2) - 1).quantize(Decimal("0.0001"))
        trend_pts = _first_points(p["trend"], growth, at_least=True)
        reason("trend", str(growth), trend_pts, p["trend"],
               f"Last 30 days' sales are {growth:+.2%} against the monthly average of the 60 days before.")
    else:
        trend_pts = p["trend_unknown_points"]
        reason("trend", None, trend_pts, p["trend"],
               "Trend unknown: fewer than 90 days of history, neutral points given.")

    score = volume_pts + refund_pts + tenure_pts + trend_pts
    grade = next((g for minimum, g in p["grades"] if score >= minimum), "E")
    if downgrade_notches > 0:
        scored = grade
        grade = GRADE_ORDER[min(GRADE_ORDER.index(grade) + downgrade_notches, len(GRADE_ORDER) - 1)]
        reasons.append({"factor": "downgrade", "value": downgrade_notches, "points": 0, "max": 0,
                        "explanation": f"{downgrade_reason} Grade lowered {downgrade_notches} notch"
                                       f"{'es' if downgrade_notches > 1 else ''}: {scored} → {grade}.".strip()})
    monthly = inputs.window_sales * 30 / window
    rounding = Decimal(p["limit_rounding"])
    raw_limit = monthly * Decimal(p["limit_months_of_sales"][grade])
    credit_limit = ((raw_limit / rounding).to_integral_value(rounding=ROUND_DOWN) * rounding).quantize(Decimal("0.01"))
    reasons.append({
        "factor": "result", "value": score, "points": score, "max": 100,
        "explanation": f"Score {score}/100 gives grade {grade}; limit {p['limit_months_of_sales'][grade]}× "
                       f"average monthly sales of {monthly:,.2f} = {credit_limit:,.2f}.",
    })
    return ScoreResult(score=score, grade=grade, credit_limit=credit_limit, reasons=reasons)
