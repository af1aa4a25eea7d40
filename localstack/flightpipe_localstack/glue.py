"""Glue for LocalStack: every Glue operation forwarded to the project's Glue service.

Community LocalStack answers Glue with HTTP 501. Its service manager loads any provider named
``glue:<name>`` in the plux namespace ``localstack.aws.provider`` (``PROVIDER_OVERRIDE_GLUE``
picks it), the way LocalStack's own DynamoDB and Kinesis providers forward to the servers they
start. Here the server is the project's Glue service (catalog, crawler, job runs), whose
address is ``FLIGHTPIPE_GLUE_URL``.
"""

from __future__ import annotations

import os

from localstack.aws.forwarder import AwsRequestProxy
from localstack.aws.skeleton import Skeleton
from localstack.aws.spec import load_service
from localstack.services.plugins import Service, aws_provider

GLUE_URL_VARIABLE = "FLIGHTPIPE_GLUE_URL"


@aws_provider(api="glue", name="flightpipe")
def glue() -> Service:
    url = os.environ.get(GLUE_URL_VARIABLE)
    if not url:
        raise RuntimeError(f"{GLUE_URL_VARIABLE} is not set: where does the Glue service listen?")
    proxy = AwsRequestProxy(url)

    def forward(context, _request):
        return proxy.forward(context)

    model = load_service("glue")
    # Every operation of Glue's model, or the gateway answers "no handler for operation".
    table = {name: forward for name in model.operation_names}
    return Service("glue", skeleton=Skeleton(model, table))
