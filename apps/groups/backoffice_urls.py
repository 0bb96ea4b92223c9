"""Included by apps.backoffice.urls under groups/: the names live in the backoffice namespace."""

from django.urls import path

from . import backoffice_views as views

urlpatterns = [
    path("", views.group_list, name="groups"),
    path("<int:group_id>/", views.group_detail, name="group"),
    path("merchants/<int:merchant_id>/unfreeze/", views.limit_unfreeze, name="limit-unfreeze"),
]
