"""AWS's own endpoint names resolved to LocalStack by its DNS server, for the Glue job containers.

AWS's Glue image calls Glue and Secrets Manager through AWS's Java client at AWS's endpoints
(``glue.<region>.amazonaws.com``, ...), whatever ``AWS_ENDPOINT_URL`` says. Community LocalStack
has the DNS server that resolves its own names to itself (``localstack/dns/server.py``); resolving
AWS's names too ("transparent endpoint injection") is documented as a Pro feature. This adds the
names ``FLIGHTPIPE_AWS_HOSTNAMES`` lists (comma-separated; the compose stack sets it) through the
server's own ``add_host_pointing_to_localstack``, as LocalStack adds its own names: an A record of
LocalStack's address on the asker's network (and AAAA ``::1``, as for its own names). The job
containers use this server (docker-compose.yml, ``flightpipe/stack/glue_containers.py``); the
gateway answers those names over TLS with a certificate for them (``CUSTOM_SSL_CERT_PATH``).
"""

from __future__ import annotations

import os

VARIABLE = "FLIGHTPIPE_AWS_HOSTNAMES"


def names() -> list[str]:
    return [name.strip() for name in os.environ.get(VARIABLE, "").split(",") if name.strip()]


def install() -> list[str]:
    """Point the names at LocalStack; the names added. Without a running DNS server (the
    Docker-free stack starts none: ``DNS_ADDRESS=0``) names given here are an error."""
    wanted = names()
    if not wanted:
        return []
    from localstack.dns import server

    from localstack import config

    dns = server.get_dns_server()
    if dns is None:
        raise RuntimeError(
            f"{VARIABLE} names AWS hosts to resolve to LocalStack, but LocalStack's DNS server "
            f"is not running (DNS_ADDRESS={config.DNS_ADDRESS!r})"
        )
    for name in wanted:
        dns.add_host_pointing_to_localstack(name)
    return wanted
