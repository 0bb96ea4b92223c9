"""Partner banks: the loans they co-fund, and repayments they collected."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.core.calendar import business_date_today
from apps.core.errors import DomainError
from apps.repayments.models import (
    NON_ACCRUAL_STATES,
    Loan,
    LoanInstallment,
    PrepaymentChoice,
    RepaymentAllocation,
    RepaymentSource,
)
from apps.repayments.selectors import installment_status, loan_outstanding, loans_for_partner_bank, payoff_quote
from apps.repayments.services import received_on_check, repayment_post

from .colending_views import BankApiView
from .fields import MoneyField
from .schema import PAGE_PARAMETERS
from .schema import paginated as paginated_schema
from .views import paginated


class LoanSerializer(serializers.ModelSerializer):
    merchant = serializers.CharField(source="merchant.company_name")

    class Meta:
        model = Loan
        fields = ["id", "merchant", "product", "repayment_method", "currency", "principal", "lender_principal",
                  "partner_principal", "partner_annual_rate", "annual_rate", "apr", "start_date", "maturity_date", "state",
                  "disbursed_at"]
        ref_name = "PartnerLoan"


class PartnerLoanListView(BankApiView):
    required_scopes = ("loans:read",)

    @extend_schema(responses=paginated_schema(LoanSerializer, "PartnerLoans"), parameters=PAGE_PARAMETERS,
                   operation_id="partner_loans_list",
                   summary="Loans your bank co-funds (never anyone else's)")
    def get(self, request):
        return paginated(self, request, loans_for_partner_bank(partner_bank=request.api_client.partner_bank),
                         LoanSerializer)


INSTALLMENT_STATUSES = ["paid", "due", "overdue"]


class InstallmentSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField(help_text="paid, due, or overdue (past its due date, not paid)")

    class Meta:
        model = LoanInstallment
        fields = ["number", "due_date", "principal_due", "interest_due", "fee_due", "principal_paid", "interest_paid",
                  "fee_paid", "penalty_accrued", "penalty_paid", "status"]
        ref_name = "PartnerLoanInstallment"

    @extend_schema_field(serializers.ChoiceField(choices=INSTALLMENT_STATUSES))
    def get_status(self, installment) -> str:
        return installment_status(installment, self.context["today"], non_accrual=self.context["non_accrual"])


class OwedSerializer(serializers.Serializer):
    principal = serializers.DecimalField(max_digits=20, decimal_places=2)
    interest = serializers.DecimalField(max_digits=20, decimal_places=2)
    fee = serializers.DecimalField(max_digits=20, decimal_places=2)
    penalty = serializers.DecimalField(max_digits=20, decimal_places=2)

    class Meta:
        ref_name = "PartnerLoanOwed"


class PayoffSerializer(OwedSerializer):
    on = serializers.DateField()
    total = serializers.DecimalField(max_digits=20, decimal_places=2)

    class Meta:
        ref_name = "PartnerLoanPayoff"


class LoanDetailSerializer(LoanSerializer):
    outstanding = OwedSerializer(help_text="Unpaid principal, and interest, fees and penalty accrued to date and not yet paid")
    payoff = PayoffSerializer(help_text="What closes the loan if received today")
    installments = InstallmentSerializer(many=True)

    class Meta(LoanSerializer.Meta):
        fields = [*LoanSerializer.Meta.fields, "outstanding", "payoff", "installments"]
        ref_name = "PartnerLoanDetail"


class PartnerLoanDetailView(BankApiView):
    required_scopes = ("loans:read",)

    @extend_schema(responses=LoanDetailSerializer, operation_id="partner_loan_retrieve",
                   summary="One loan your bank co-funds: its schedule and what is owed")
    def get(self, request, loan_id: int):
        loans = loans_for_partner_bank(partner_bank=request.api_client.partner_bank).prefetch_related("installments")
        loan = get_object_or_404(loans, pk=loan_id)  # the installments read once, for the schedule, owed and payoff
        today = business_date_today()
        loan.outstanding, loan.payoff = loan_outstanding(loan), payoff_quote(loan=loan, on=today)
        context = {"today": today, "non_accrual": loan.state in NON_ACCRUAL_STATES}
        return Response(LoanDetailSerializer(loan, context=context).data)


class PartnerRepaymentView(BankApiView):
    required_scopes = ("repayments:write",)

    class InputSerializer(serializers.Serializer):
        amount = MoneyField()
        currency = serializers.CharField(max_length=3)
        reference = serializers.CharField(max_length=100, help_text="Your reference; resending it posts nothing twice")
        received_on = serializers.DateField()
        prepayment = serializers.ChoiceField(
            choices=PrepaymentChoice.choices, required=False, default=PrepaymentChoice.REDUCE_INSTALLMENT,
            help_text="Monthly loans: what paying beyond the current installment does to the rest of the schedule")

        class Meta:
            ref_name = "PartnerRepaymentRequest"

        # What the loan refuses is checked with the other fields, so one response names every field that is wrong.
        def validate_currency(self, currency):
            if currency != self.context["loan"].currency:
                raise serializers.ValidationError(f"This loan is in {self.context['loan'].currency}.")
            return currency

        def validate_received_on(self, received_on):
            if received_on > business_date_today():
                raise serializers.ValidationError("A repayment cannot be received in the future.")
            try:
                received_on_check(loan=self.context["loan"], received_on=received_on)
            except DomainError as exc:
                raise serializers.ValidationError(exc.message, code=exc.code) from exc
            return received_on

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        loan_id = serializers.IntegerField()
        amount = serializers.DecimalField(max_digits=20, decimal_places=2)
        received_on = serializers.DateField()
        prepayment = serializers.CharField()
        allocations = serializers.SerializerMethodField()
        loan_state = serializers.CharField(source="loan.state")

        class Meta:
            ref_name = "PartnerRepayment"

        @extend_schema_field(inline_serializer(name="PartnerRepaymentAllocation", many=True, fields={
            "component": serializers.ChoiceField(choices=RepaymentAllocation._meta.get_field("component").choices),
            "amount": serializers.DecimalField(max_digits=20, decimal_places=2)}))
        def get_allocations(self, repayment) -> list[dict]:
            return [{"component": a.component, "amount": str(a.amount)} for a in repayment.allocations.all()]

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer, 200: OutputSerializer},
                   summary="Post a repayment your bank collected for a loan it co-funds",
                   description="201 when it is posted. Resending a reference with the same amount, date and "
                               "prepayment choice posts nothing and returns the first repayment with 200 (its "
                               "loan_state is the loan's state now); with "
                               "other terms it is refused (422 DUPLICATE_REFERENCE), and once that repayment was "
                               "reversed, with 409 REPAYMENT_REVERSED.")
    def post(self, request, loan_id: int):
        loan = get_object_or_404(loans_for_partner_bank(partner_bank=request.api_client.partner_bank), pk=loan_id)
        payload = self.InputSerializer(data=request.data, context={"loan": loan})
        payload.is_valid(raise_exception=True)
        repayment = repayment_post(loan=loan, amount=payload.validated_data["amount"], source=RepaymentSource.PARTNER,
                                   reference=payload.validated_data["reference"], actor=request.api_client.label,
                                   received_on=payload.validated_data["received_on"],
                                   prepayment=payload.validated_data["prepayment"])
        return Response(self.OutputSerializer(repayment).data,
                        status=status.HTTP_200_OK if repayment.replayed else status.HTTP_201_CREATED)
