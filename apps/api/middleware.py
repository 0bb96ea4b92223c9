from django.middleware.common import CommonMiddleware


class ApiAwareCommonMiddleware(CommonMiddleware):
    """Django's CommonMiddleware, without APPEND_SLASH's redirect under /api/: a client following a 301 resends a POST
    as a GET, so the request would be lost. There the missing slash is a problem+json 404 that says so."""

    def should_redirect_with_slash(self, request):
        return not request.path_info.startswith("/api/") and super().should_redirect_with_slash(request)
