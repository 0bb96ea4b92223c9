"""The automatic credit decision: each rule returns a verdict with the reason people read.

Any decline → the application is declined; otherwise any refer → a credit officer
decides; otherwise it is approved and priced. Thresholds come from FinancingPolicy.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from apps.merchants.models import KycState

from .models import RuleOutcome


@dataclass(frozen=True)
class Verdict:
    rule: str
    outcome: str
    reason: str


@dataclass(frozen=True)
class DecisionFacts:
    kyc_state: str
    kyc_label: str
    grade: str
    credit_limit: Decimal
    owed: Decimal
    amount: Decimal
    borrowing_base: Decimal | None  # None: a term loan, secured by no orders
    exposure: Decimal  # outstanding principal on the lender's books: the merchant's and its guarantee group's
    single_borrower_limit: Decimal
    cash: Decimal
    lender_in_breach: bool
    apr: Decimal  # the all-in APR the offer would carry, as a fraction
    apr_ceiling: Decimal | None  # percent (4 × LPR), None when no LPR is recorded
    limit_frozen_at: datetime.datetime | None = None  # contagion: a guarantee-group member defaulted
    limit_frozen_reason: str = ""
    exposure_group: str = ""  # the guarantee group whose members' exposure `exposure` includes


def _kyc(facts, policy) -> Verdict:
    if facts.kyc_state == KycState.VERIFIED:
        return Verdict("kyc", RuleOutcome.PASS, "KYC is verified.")
    return Verdict("kyc", RuleOutcome.DECLINE, f"KYC is {facts.kyc_label.lower()}, not verified.")


def _grade(facts, policy) -> Verdict:
    if facts.grade in policy.auto_approve_grades:
        return Verdict("grade", RuleOutcome.PASS, f"Risk grade {facts.grade} is approved automatically.")
    if facts.grade in policy.refer_grades:
        return Verdict("grade", RuleOutcome.REFER, f"Risk grade {facts.grade} needs a credit officer's review.")
    return Verdict("grade", RuleOutcome.DECLINE, f"Risk grade {facts.grade} is not financed.")


def _limit_frozen(facts, policy) -> Verdict:
    if facts.limit_frozen_at is None:
        return Verdict("limit_frozen", RuleOutcome.PASS, "The credit limit is not frozen.")
    return Verdict("limit_frozen", RuleOutcome.DECLINE,
                   f"The credit limit is frozen since {facts.limit_frozen_at:%Y-%m-%d}: {facts.limit_frozen_reason} "
                   "No new financing until the lender lifts the freeze.")


def _credit_limit(facts, policy) -> Verdict:
    total = facts.owed + facts.amount
    numbers = f"already owed {facts.owed:,.2f} + requested {facts.amount:,.2f} = {total:,.2f}; limit {facts.credit_limit:,.2f}"
    if total <= facts.credit_limit:
        return Verdict("credit_limit", RuleOutcome.PASS, f"Within the credit limit: {numbers}.")
    if total <= facts.credit_limit * Decimal(str(policy.limit_refer_band)):
        return Verdict("credit_limit", RuleOutcome.REFER, f"Above the credit limit but within the review band: {numbers}.")
    return Verdict("credit_limit", RuleOutcome.DECLINE, f"Above the credit limit: {numbers}.")


def _borrowing_base(facts, policy) -> Verdict:
    if facts.borrowing_base is None:
        return Verdict("borrowing_base", RuleOutcome.PASS, "A term loan is not secured by orders: no borrowing base applies.")
    if facts.amount <= facts.borrowing_base:
        return Verdict("borrowing_base", RuleOutcome.PASS,
                       f"Requested {facts.amount:,.2f} is within the borrowing base of {facts.borrowing_base:,.2f}.")
    return Verdict("borrowing_base", RuleOutcome.DECLINE,
                   f"Requested {facts.amount:,.2f} exceeds the borrowing base of {facts.borrowing_base:,.2f}.")


def _single_borrower(facts, policy) -> Verdict:
    total = facts.exposure + facts.amount
    label = f"exposure with guarantee group {facts.exposure_group}" if facts.exposure_group else "exposure"
    numbers = (f"{label} {facts.exposure:,.2f} + requested {facts.amount:,.2f} = {total:,.2f}; "
               f"single-borrower limit {facts.single_borrower_limit:,.2f}")
    if total <= facts.single_borrower_limit:
        return Verdict("single_borrower", RuleOutcome.PASS, f"Within the single-borrower limit: {numbers}.")
    return Verdict("single_borrower", RuleOutcome.DECLINE, f"Over the single-borrower limit: {numbers}.")


def _lender_capacity(facts, policy) -> Verdict:
    if facts.lender_in_breach:
        return Verdict("lender_capacity", RuleOutcome.REFER,
                       "The lender is in breach of its borrowing cap; new lending needs a credit officer.")
    if facts.amount > facts.cash:
        return Verdict("lender_capacity", RuleOutcome.REFER,
                       f"The lender has {facts.cash:,.2f} cash for a {facts.amount:,.2f} advance; funding must be arranged.")
    return Verdict("lender_capacity", RuleOutcome.PASS, f"The lender has {facts.cash:,.2f} cash available.")


def _apr_ceiling(facts, policy) -> Verdict:
    if facts.apr_ceiling is None:
        return Verdict("apr_ceiling", RuleOutcome.REFER,
                       "No one-year LPR is recorded, so the APR ceiling cannot be checked; an admin must record it.")
    numbers = f"APR {facts.apr * 100:.2f}% against a ceiling of {facts.apr_ceiling:.2f}% (4 × LPR)"
    if facts.apr * 100 <= facts.apr_ceiling:
        return Verdict("apr_ceiling", RuleOutcome.PASS, f"Within the cost ceiling: {numbers}.")
    return Verdict("apr_ceiling", RuleOutcome.DECLINE, f"Above the cost ceiling: {numbers}.")


RULES = (_kyc, _grade, _limit_frozen, _credit_limit, _borrowing_base, _single_borrower, _lender_capacity, _apr_ceiling)


def decision_run(*, facts: DecisionFacts, policy) -> tuple[str, list[Verdict]]:
    verdicts = [rule(facts, policy) for rule in RULES]
    outcomes = {v.outcome for v in verdicts}
    overall = next(o for o in (RuleOutcome.DECLINE, RuleOutcome.REFER, RuleOutcome.PASS) if o in outcomes)
    return overall, verdicts
