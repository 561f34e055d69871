"""Serve the ingest app with the Sentry routes over HTTPS (server certificate only) for tests.

``python serve.py SERVER_DIR PORT CERT KEY``: the server directory must hold settings, a KEK
and a migrated database (``conftest.make_server``). Client certificates are not asked for:
Sentry SDKs in browsers cannot present one; this is the separate Sentry listener.
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from crashveil.server.http.app import create_app
from crashveil.server.http.run import LOG_CONFIG
from crashveil.server.settings import Settings
from crashveil.server.storage.store import Storage


def main() -> None:
    directory, port, cert, key = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    settings = Settings.load(directory)
    storage = Storage.open(settings)
    app = create_app(settings, storage)
    try:
        uvicorn.run(app, host="127.0.0.1", port=port, ssl_certfile=cert, ssl_keyfile=key, access_log=False,
                    proxy_headers=False, server_header=False, log_config=LOG_CONFIG, lifespan="off")
    finally:
        storage.close()


if __name__ == "__main__":
    main()
