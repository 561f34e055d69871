"""A FastAPI service whose endpoint crashes; the Starlette/FastAPI integration reports it (server mode).

    python examples/web_fastapi.py --dsn 'crashveil://...' --cert client.pem --key client.key --data-dir DIR
"""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from web_common import PERSONAL, finish, start

app = FastAPI()


@app.post("/customers/{customer_id}/orders")
async def create_order(customer_id: int, order: dict[str, list[dict[str, float]]]) -> dict[str, float]:
    return {"total": sum(item["price"] for item in order["items"])}  # the bug: an item without a price


async def one_request() -> int:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.invalid") as client:
        answer = await client.post(f"/customers/{PERSONAL['path_id']}/orders?{PERSONAL['query']}",
                                   json={"items": [{"name": 1.0}]},
                                   headers={"Authorization": PERSONAL["header"], "Cookie": PERSONAL["cookie"]})
        return answer.status_code


def main() -> None:
    start(__doc__.splitlines()[0], "web-fastapi")  # starlette is imported: its integration is on
    finish(asyncio.run(one_request()))


if __name__ == "__main__":
    main()
