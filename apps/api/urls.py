from django.urls import path

from . import order_views, views

app_name = "api"

urlpatterns = [
    path("bank/profile/", views.BankProfileView.as_view(), name="bank-profile"),
    path("merchants/<int:merchant_id>/sales/", views.MerchantSalesView.as_view(), name="merchant-sales"),
    path("merchants/<int:merchant_id>/orders/", order_views.MerchantOrdersView.as_view(), name="merchant-orders"),
    path("merchants/<int:merchant_id>/orders/<str:external_id>/events/", order_views.OrderEventView.as_view(),
         name="order-events"),
]
