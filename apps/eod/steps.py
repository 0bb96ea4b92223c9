"""The end-of-day steps, in DESIGN.md order. Each entry names the step and the functions
(dotted paths, imported when run) that do its work for one chunk of loans."""

STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("accrue_interest", ("apps.repayments.eod.interest_accrue",)),
    ("accrue_penalties", ("apps.repayments.eod.penalties_accrue",)),
    ("installments_mark", ("apps.repayments.eod.installments_mark",)),
    ("delinquency", ("apps.repayments.eod.delinquency_update",)),
    ("loan_transitions", ("apps.repayments.eod.loan_transitions",)),
    ("provisions", ("apps.repayments.eod.provisions_post",)),
    ("margin_calls_promises", ("apps.repayments.eod.margin_calls_enforce", "apps.collections.cases_eod.promises_review")),
    ("cases_dunning", ("apps.collections.dunning.dunning_fire", "apps.collections.cases_eod.cases_update")),
    ("grades", ("apps.groups.eod.claims_settle", "apps.groups.eod.contagion_apply", "apps.groups.eod.grades_review")),
)

# Steps between barriers look only at the chunk's own loans, so one task runs them in order in one
# transaction (each still recorded per step and chunk); a barrier step starts only when every chunk
# of every step before it is done — grades look across chunks (a default moves other members' limits).
BARRIERS = ("grades",)

# What a dunning step's `action` does, after its events are recorded: fn(chunk, step) -> rows changed,
# acting on the collections.DunningEvent rows of that step fired on chunk.business_date for loans in the chunk.
STEP_ACTIONS = {
    "guarantee_claim": "apps.groups.eod.guarantee_claims_open",
    "assign_collector": "apps.collections.cases_eod.collectors_assign",
    "legal_referral": "apps.collections.cases_eod.legal_referral",
}
