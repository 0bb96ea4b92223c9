from decimal import Decimal as D

import pytest

from apps.financing.disbursement import loan_disburse
from apps.partners.models import CoLendingAgreement
from tests.conftest import TODAY
from tests.term_loans import six_percent, term_loan, term_merchant  # noqa: F401 - shared fixtures


@pytest.fixture
def colent_loan(accepted, lender, bank_client):
    """A loan the test bank co-funds half of."""
    CoLendingAgreement.objects.create(lender=lender, partner_bank=bank_client.partner_bank, share=D("0.5000"),
                                      annual_rate=D("0.05"), exposure_limit=D("100000.00"), auto_accept=True,
                                      effective_from=TODAY)
    return loan_disburse(application=accepted("1000.00", slice(2, 4)), actor="treasurer")
