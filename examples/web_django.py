"""A one-file Django app whose view crashes; the middleware and signal report it once (server mode).

    python examples/web_django.py --dsn 'crashveil://...' --cert client.pem --key client.key --data-dir DIR
"""

from __future__ import annotations

import json

import django
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.test import Client
from django.urls import path
from web_common import PERSONAL, finish, start


def create_order(request: HttpRequest, customer_id: int) -> JsonResponse:
    order = json.loads(request.body)
    return JsonResponse({"total": sum(item["price"] for item in order["items"])})  # the bug: no price


urlpatterns = [path("customers/<int:customer_id>/orders", create_order)]


def main() -> None:
    settings.configure(DEBUG=False, SECRET_KEY="example-only", ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"],
                       MIDDLEWARE=["crashveil.sdk.integrations.web.django.CrashveilMiddleware"], LOGGING_CONFIG=None)
    django.setup()
    start(__doc__.splitlines()[0], "web-django")  # django is imported: its integration is on
    client = Client(raise_request_exception=False)
    client.cookies.load(PERSONAL["cookie"])
    answer = client.post(f"/customers/{PERSONAL['path_id']}/orders?{PERSONAL['query']}",
                         data=json.dumps({"items": [{"name": "tea"}]}), content_type="application/json",
                         headers={"Authorization": PERSONAL["header"]})
    finish(answer.status_code)


if __name__ == "__main__":
    main()
