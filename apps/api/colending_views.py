"""Partner banks: the co-lending shares offered to them, and their answers."""

import django_filters
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.core.errors import NotFound
from apps.financing.colending import share_offer_answer
from apps.financing.disbursement import disbursement_attempt
from apps.financing.models import PartnerShareOffer, ShareOfferState
from apps.partners.models import ApiClientKind

from .idempotency import IdempotentAPIView
from .schema import PAGE_PARAMETERS
from .schema import paginated as paginated_schema
from .views import filtered_queryset, paginated


class ShareOfferSerializer(serializers.ModelSerializer):
    application_id = serializers.IntegerField()
    merchant = serializers.CharField(source="application.merchant.company_name")
    risk_grade = serializers.CharField(source="application.merchant.risk_grade")
    principal = serializers.DecimalField(source="application.offer.principal", max_digits=20, decimal_places=2)
    annual_rate = serializers.DecimalField(source="agreement.annual_rate", max_digits=7, decimal_places=4)
    maturity_date = serializers.DateField(source="application.offer.maturity_date")

    class Meta:
        model = PartnerShareOffer
        fields = ["id", "application_id", "merchant", "risk_grade", "principal", "amount", "share", "annual_rate",
                  "maturity_date", "state", "created_at", "responded_at"]
        ref_name = "CoLendingShareOffer"


class ShareOfferFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=ShareOfferState.choices)

    class Meta:
        model = PartnerShareOffer
        fields = ["state"]


class BankApiView(IdempotentAPIView):
    client_kind = ApiClientKind.PARTNER_BANK

    def share_offers(self, request):
        """Only shares offered to the calling bank exist for it."""
        return (PartnerShareOffer.objects.filter(partner_bank=request.api_client.partner_bank)
                .select_related("application__merchant", "application__offer", "agreement"))


class ShareOfferListView(BankApiView):
    required_scopes = ("loans:read",)

    @extend_schema(responses=paginated_schema(ShareOfferSerializer, "ShareOffers"),
                   summary="Co-lending shares offered to your bank",
                   parameters=[*PAGE_PARAMETERS, OpenApiParameter("state", str, enum=ShareOfferState.values)])
    def get(self, request):
        queryset = filtered_queryset(ShareOfferFilter, request, self.share_offers(request))
        return paginated(self, request, queryset.order_by("-created_at", "-id"), ShareOfferSerializer)


class ShareOfferAnswerView(BankApiView):
    required_scopes = ("colending:write",)
    accept = True

    @extend_schema(request=None, responses=ShareOfferSerializer, summary="Accept or decline a share offered to you")
    def post(self, request, offer_id: int):
        try:
            offer = share_offer_answer(offer_id=offer_id, partner_bank=request.api_client.partner_bank,
                                       accept=self.accept, actor=request.api_client.label)
        except ObjectDoesNotExist as exc:
            raise NotFound(f"No share offer {offer_id} was made to your bank.", code="NOT_FOUND") from exc
        # Fully answered now: disburse after this answer commits (a failure leaves it for a retry).
        transaction.on_commit(lambda: disbursement_attempt(application=offer.application, actor=request.api_client.label))
        return Response(ShareOfferSerializer(self.share_offers(request).get(pk=offer_id)).data)
