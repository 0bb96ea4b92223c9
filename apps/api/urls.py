from django.urls import path

from . import colending_views, loan_views, order_views, views

app_name = "api"

urlpatterns = [
    path("bank/profile/", views.BankProfileView.as_view(), name="bank-profile"),
    path("colending/offers/", colending_views.ShareOfferListView.as_view(), name="share-offers"),
    path("colending/offers/<int:offer_id>/accept/", colending_views.ShareOfferAnswerView.as_view(accept=True),
         name="share-offer-accept"),
    path("colending/offers/<int:offer_id>/decline/", colending_views.ShareOfferAnswerView.as_view(accept=False),
         name="share-offer-decline"),
    path("loans/", loan_views.PartnerLoanListView.as_view(), name="partner-loans"),
    path("loans/<int:loan_id>/", loan_views.PartnerLoanDetailView.as_view(), name="partner-loan"),
    path("loans/<int:loan_id>/repayments/", loan_views.PartnerRepaymentView.as_view(), name="partner-repayments"),
    path("merchants/<int:merchant_id>/sales/", views.MerchantSalesView.as_view(), name="merchant-sales"),
    path("merchants/<int:merchant_id>/orders/", order_views.MerchantOrdersView.as_view(), name="merchant-orders"),
    # <path:…>: a marketplace's order id may hold a "/".
    path("merchants/<int:merchant_id>/orders/<path:external_id>/events/", order_views.OrderEventView.as_view(),
         name="order-events"),
]
