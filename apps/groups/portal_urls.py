"""Included by apps.portal.urls under group/: the names live in the portal namespace."""

from django.urls import path

from . import portal_views as views

urlpatterns = [
    path("", views.group, name="group"),
    path("create/", views.group_create_view, name="group-create"),
    path("invite/", views.group_invite_view, name="group-invite"),
    path("leave/", views.group_leave_view, name="group-leave"),
    path("invitations/<int:membership_id>/<slug:decision>/", views.invitation_decide, name="group-invitation"),
    path("claims/<int:claim_id>/", views.claim_detail, name="group-claim"),
]
