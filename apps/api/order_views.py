"""Pre-sale orders pushed by the marketplace: ingestion, status events, listing."""

from decimal import Decimal

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.financing.models import OrderState, PresaleOrder
from apps.financing.order_rows import order_rows_validate
from apps.financing.services import ORDER_EVENTS, order_event_apply, orders_ingest

from .fields import MoneyField
from .schema import PAGE_PARAMETERS
from .schema import paginated as paginated_schema
from .views import MarketplaceMerchantView, filtered_queryset, paginated


class OrderSerializer(serializers.ModelSerializer):
    class Meta:
        model = PresaleOrder
        fields = ["external_id", "buyer_id", "currency", "amount", "paid_amount", "paid_at", "expected_ship_date",
                  "expected_settlement_date", "state", "settled_amount"]
        ref_name = "PresaleOrder"


class OrderFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=OrderState.choices)
    settles_before = django_filters.DateFilter(field_name="expected_settlement_date", lookup_expr="lte")

    class Meta:
        model = PresaleOrder
        fields = ["state", "settles_before"]


class MerchantOrdersView(MarketplaceMerchantView):
    required_scopes = ("orders:write",)

    class InputSerializer(serializers.Serializer):
        # Orders are validated by the domain so a bad row is reported with its number.
        orders = serializers.ListField(child=serializers.DictField(), allow_empty=False, max_length=5000)

        class Meta:
            ref_name = "OrdersImportRequest"

    class OutputSerializer(serializers.Serializer):
        created = serializers.IntegerField()
        unchanged = serializers.IntegerField()

        class Meta:
            ref_name = "OrdersImportResult"

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer},
                   summary="Import pre-sale orders (all or none); idempotent per external id")
    def post(self, request, merchant_id: int):
        merchant = self._merchant(request, merchant_id)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        rows = order_rows_validate(payload.validated_data["orders"], currency=merchant.lender.base_currency)
        result = orders_ingest(merchant=merchant, rows=rows, source="api", actor=request.api_client.label)
        return Response(self.OutputSerializer(result).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=paginated_schema(OrderSerializer, "PresaleOrders"),
                   summary="The merchant's orders, by expected settlement",
                   parameters=[*PAGE_PARAMETERS, OpenApiParameter("state", str, enum=OrderState.values),
                               OpenApiParameter("settles_before", OpenApiTypes.DATE)])
    def get(self, request, merchant_id: int):
        merchant = self._merchant(request, merchant_id)
        queryset = filtered_queryset(OrderFilter, request, PresaleOrder.objects.filter(merchant=merchant))
        return paginated(self, request, queryset.order_by("expected_settlement_date", "id"), OrderSerializer)


class OrderEventView(MarketplaceMerchantView):
    required_scopes = ("orders:write",)

    class InputSerializer(serializers.Serializer):
        event = serializers.ChoiceField(choices=list(ORDER_EVENTS))
        settled_amount = MoneyField(required=False, min_value=Decimal("0"),
                                    help_text='Required for `settled`: a decimal string from "0.00" to the paid amount')

        class Meta:
            ref_name = "OrderEvent"

    @extend_schema(request=InputSerializer, responses=OrderSerializer,
                   summary="Record a status change (shipped, delivered, settled, refunded, cancelled, disputed, …)")
    def post(self, request, merchant_id: int, external_id: str):
        merchant = self._merchant(request, merchant_id)
        order = get_object_or_404(PresaleOrder, merchant=merchant, external_id=external_id)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        order = order_event_apply(order=order, actor=request.api_client.label, **payload.validated_data)
        return Response(OrderSerializer(order).data)
