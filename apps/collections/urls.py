from django.urls import path

from . import settings_views, views

app_name = "collections"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("cases/<int:case_id>/", views.case_detail, name="case"),
    path("cases/<int:case_id>/assign/", views.case_assign_view, name="case-assign"),
    path("cases/<int:case_id>/contacts/", views.contact_log_view, name="case-contact"),
    path("cases/<int:case_id>/promises/", views.promise_view, name="case-promise"),
    path("cases/<int:case_id>/close/", views.case_close_view, name="case-close"),
    path("cases/<int:case_id>/write-off/", views.write_off_request_view, name="case-write-off"),
    path("cases/<int:case_id>/recoveries/", views.recovery_view, name="case-recovery"),
    path("write-offs/", views.write_off_list, name="write-offs"),
    path("settings/", settings_views.collections_settings, name="settings"),
    path("settings/policy/", settings_views.policy_create_view, name="policy-create"),
    path("settings/steps/<int:step_id>/", settings_views.step_update_view, name="step-update"),
    path("write-offs/<int:request_id>/<slug:decision>/", views.write_off_decide, name="write-off-decide"),
]
