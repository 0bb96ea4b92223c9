from django.urls import path

from . import views

app_name = "eod"

urlpatterns = [
    path("", views.runs, name="runs"),
    path("run/", views.run_start, name="run"),
    path("<int:run_id>/", views.run_detail, name="run-detail"),
]
