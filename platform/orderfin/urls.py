from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from oauth2_provider import views as oauth_views

from apps.core.views import healthz

# Only what the client-credentials grant needs: the package's full set would also open application registration
# (to any signed-in user, and dynamic registration), authorization and device flows nobody here uses.
oauth_urlpatterns = ([
    path("token/", oauth_views.TokenView.as_view(), name="token"),
    path("revoke_token/", oauth_views.RevokeTokenView.as_view(), name="revoke-token"),
], "oauth2_provider")

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="portal:home", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("portal/notices/", include("apps.notifications.urls")),
    path("portal/", include("apps.portal.urls")),
    path("backoffice/ledger/", include("apps.ledger.urls")),
    path("backoffice/eod/", include("apps.eod.urls")),
    path("backoffice/", include("apps.backoffice.urls")),
    path("api/v1/", include("apps.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("backoffice/collections/", include("apps.collections.urls")),
    path("o/", include(oauth_urlpatterns)),
    path("django-admin/", admin.site.urls),
]

handler404 = "apps.api.problems.not_found"
handler500 = "apps.api.problems.server_error"
