"""``/_flightpipe/`` on LocalStack's port: the Glue service's own paths (health, dashboard).

So that the dashboard is at ``http://127.0.0.1:4566/_flightpipe/dashboard``, beside
LocalStack's ``/_localstack/`` paths, wherever the Glue service listens.
"""

from __future__ import annotations

import os

from localstack.runtime import hooks

from flightpipe_localstack.glue import GLUE_URL_VARIABLE

PREFIX = "/_flightpipe/"


@hooks.on_infra_start()
def route_flightpipe_paths() -> None:
    url = os.environ.get(GLUE_URL_VARIABLE)
    if not url:
        return
    from localstack.http.proxy import Proxy
    from localstack.services.edge import ROUTER

    proxy = Proxy(url, preserve_host=False)

    def forward(request, path):
        return proxy.forward(request, forward_path=PREFIX + path)

    ROUTER.add(PREFIX + "<path:path>", forward)
