from django.http import HttpResponse

HEALTH_PATH = "/healthz"


class HealthCheckMiddleware:
    """Answers the app's health check before anything else runs.

    It sits first in MIDDLEWARE so a load balancer or ingress health check gets 200 whatever Host header
    it sends (no ALLOWED_HOSTS check), over plain http (no SSL redirect), and without touching the
    database: an outage of the database must not make every Pod look dead at once.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == HEALTH_PATH:
            response = HttpResponse("ok\n", content_type="text/plain")
            response["Cache-Control"] = "no-store"
            return response
        return self.get_response(request)
