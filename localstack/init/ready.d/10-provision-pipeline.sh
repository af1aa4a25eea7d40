#!/bin/sh
# READY hook: provision the pipeline (infra/pipeline.yaml, stage local) against the endpoint that
# runs this hook (AWS_ENDPOINT_URL), with DATABASE_URL as the warehouse, and write what it
# provisioned to FLIGHTPIPE_PROVISIONED_FILE. The project's stack container runs it on start.
# It needs the project importable (PYTHONPATH) and its dependencies: LocalStack's own image has
# neither (see the README, "The container path").
set -eu
exec python3 -m flightpipe.stack.provision --output "${FLIGHTPIPE_PROVISIONED_FILE:-/tmp/flightpipe-provisioned.json}"
