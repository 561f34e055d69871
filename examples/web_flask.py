"""A Flask shop whose order view crashes; the Flask integration reports it (server consent mode).

    python examples/web_flask.py --dsn 'crashveil://...' --cert client.pem --key client.key --data-dir DIR
"""

from __future__ import annotations

import flask
from web_common import PERSONAL, finish, start

app = flask.Flask("shop")


@app.post("/customers/<int:customer_id>/orders")
def create_order(customer_id: int) -> dict[str, float]:
    order = flask.request.get_json()
    return {"total": sum(item["price"] for item in order["items"])}  # the bug: an item without a price


def main() -> None:
    start(__doc__.splitlines()[0], "web-flask")  # flask is imported: its integration is on
    client = app.test_client()
    client.set_cookie(*PERSONAL["cookie"].split("="))
    answer = client.post(f"/customers/{PERSONAL['path_id']}/orders?{PERSONAL['query']}",
                         json={"items": [{"name": "tea"}]}, headers={"Authorization": PERSONAL["header"]})
    finish(answer.status_code)


if __name__ == "__main__":
    main()
