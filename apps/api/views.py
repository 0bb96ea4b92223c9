"""The partner API, /api/v1/. Each view: validate, call one service, render."""

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.core.calendar import business_date_today
from apps.merchants.models import DailySales
from apps.merchants.sales_rows import sales_rows_validate
from apps.merchants.selectors import merchants_for_lender
from apps.merchants.services import daily_sales_import
from apps.partners.models import ApiClientKind

from .idempotency import IdempotentAPIView
from .pagination import Pagination
from .schema import PAGE_PARAMETERS
from .schema import paginated as paginated_schema


class BankProfileView(IdempotentAPIView):
    """The calling partner bank's own profile: who it is to us and what its token may do."""

    required_scopes = ("bank:read",)
    client_kind = ApiClientKind.PARTNER_BANK

    class OutputSerializer(serializers.Serializer):
        code = serializers.CharField()
        name = serializers.CharField()
        lender = serializers.CharField(source="lender.name")
        max_share = serializers.DecimalField(max_digits=5, decimal_places=4)
        exposure_limit = serializers.DecimalField(max_digits=20, decimal_places=2)
        webhook_url = serializers.URLField()
        is_active = serializers.BooleanField()
        scopes = serializers.SerializerMethodField(help_text="Scopes this client may be granted")
        token_scopes = serializers.SerializerMethodField(help_text="Scopes of the token used for this call")

        class Meta:
            ref_name = "BankProfile"

        def get_scopes(self, bank) -> list[str]:
            return sorted(self.context["client"].scope_set())

        def get_token_scopes(self, bank) -> list[str]:
            return sorted(self.context["token"].scope.split())

    @extend_schema(responses=OutputSerializer, summary="The calling partner bank's own profile")
    def get(self, request):
        bank = request.api_client.partner_bank
        return Response(self.OutputSerializer(bank, context={"client": request.api_client, "token": request.auth}).data)


class SalesRowSerializer(serializers.Serializer):
    date = serializers.DateField()
    gross_sales = serializers.DecimalField(max_digits=20, decimal_places=2)
    order_count = serializers.IntegerField()
    refunds = serializers.DecimalField(max_digits=20, decimal_places=2)
    chargebacks = serializers.DecimalField(max_digits=20, decimal_places=2)


class SalesFilter(django_filters.FilterSet):
    date_after = django_filters.DateFilter(field_name="date", lookup_expr="gte")
    date_before = django_filters.DateFilter(field_name="date", lookup_expr="lte")

    class Meta:
        model = DailySales
        fields = ["date_after", "date_before"]


class MarketplaceMerchantView(IdempotentAPIView):
    """Base for the marketplace's per-merchant endpoints: the merchant must be the client's lender's."""

    client_kind = ApiClientKind.MARKETPLACE

    def _merchant(self, request, merchant_id):
        return get_object_or_404(merchants_for_lender(lender=request.api_client.lender), pk=merchant_id)



def paginated(view, request, queryset, serializer_class):
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


def filtered_queryset(filterset_class, request, queryset):
    filterset = filterset_class(request.query_params, queryset=queryset)
    if not filterset.is_valid():
        raise serializers.ValidationError(filterset.errors)
    return filterset.qs


class MerchantSalesView(MarketplaceMerchantView):
    """Daily sales of one merchant of the client's lender, pushed by the marketplace."""

    required_scopes = ("sales:write",)

    class InputSerializer(serializers.Serializer):
        # Rows are validated by the domain so a bad row is reported with its number.
        rows = serializers.ListField(child=serializers.DictField(), allow_empty=False, max_length=5000)

        class Meta:
            ref_name = "SalesImportRequest"

    class OutputSerializer(serializers.Serializer):
        merchant_id = serializers.IntegerField()
        imported = serializers.IntegerField()
        risk_grade = serializers.CharField()
        score = serializers.IntegerField()
        credit_limit = serializers.DecimalField(max_digits=20, decimal_places=2)

        class Meta:
            ref_name = "SalesImportResult"

    class ListOutputSerializer(SalesRowSerializer):
        currency = serializers.CharField()

        class Meta:
            ref_name = "DailySales"

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer},
                   summary="Import daily sales (all rows or none); re-scores the merchant")
    def post(self, request, merchant_id: int):
        merchant = self._merchant(request, merchant_id)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        rows = sales_rows_validate(payload.validated_data["rows"], today=business_date_today())
        assessment = daily_sales_import(merchant=merchant, rows=rows, source="api", actor=request.api_client.label)
        body = {"merchant_id": merchant.pk, "imported": len(rows), "risk_grade": assessment.grade,
                "score": assessment.score, "credit_limit": assessment.credit_limit}
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=paginated_schema(ListOutputSerializer, "DailySales"),
                   summary="Daily sales already imported, newest first",
                   parameters=[*PAGE_PARAMETERS, OpenApiParameter("date_after", OpenApiTypes.DATE),
                               OpenApiParameter("date_before", OpenApiTypes.DATE)])
    def get(self, request, merchant_id: int):
        merchant = self._merchant(request, merchant_id)
        queryset = filtered_queryset(SalesFilter, request, DailySales.objects.filter(merchant=merchant))
        return paginated(self, request, queryset.order_by("-date"), self.ListOutputSerializer)
