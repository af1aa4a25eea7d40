# The project's image: the Glue service (flightpipe/stack/glue_service.py), which LocalStack
# forwards Glue to, on the compose path (docker-compose.yml). It runs each Glue job in a
# container of the Glue image (FLIGHTPIPE_GLUE_RUNNER=containers); the Glue stand-in
# (standins/glue/) builds on this image, hence Java, PySpark, the S3A jars and the PostgreSQL
# JDBC driver here. Built from the repository's root.
#
# BASE_IMAGE: any Debian bookworm image (Python 3.11 comes from Debian). Machines without
# registry access build a stand-in base from Debian's mirror (make compose-standins).
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS python
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
        openjdk-17-jre-headless procps libpostgresql-jdbc-java \
    && rm -rf /var/lib/apt/lists/*

# The project's pinned dependencies (pyproject.toml, the one place they are listed) in a
# virtualenv, with Hadoop's S3A jars where `make install` puts them (.venv/spark-jars, from the
# pinned sdist flightpipe/gluelocal/s3a-jars.txt names), and the LocalStack plugins' package for
# the clock's time model. The list is extracted in a stage of its own so that the install is
# rebuilt only when the list changes, not at every edit of pyproject.toml. A proxy that
# re-signs HTTPS needs its CA: `.local/build-ca.crt`, when present (written by
# `make compose-standins`, never committed), is used by pip in these stages only; the final
# image copies the virtualenv.
FROM python AS requirements
COPY pyproject.toml constraints.txt flightpipe/gluelocal/s3a-jars.txt .local/build-ca.cr[t] /build/
RUN mkdir /out \
    && cp /build/s3a-jars.txt /build/constraints.txt /out/ \
    && python3 -c "import tomllib; print('\n'.join(tomllib.load(open('/build/pyproject.toml', 'rb'))['project']['dependencies']))" > /out/requirements.txt \
    && if [ -f /build/build-ca.crt ]; then cp /build/build-ca.crt /out/; fi

FROM python AS dependencies
COPY --from=requirements /out/ /build/
RUN python3 -m venv /opt/flightpipe \
    && if [ -f /build/build-ca.crt ]; then export PIP_CERT=/build/build-ca.crt; fi \
    && /opt/flightpipe/bin/pip install --no-cache-dir --disable-pip-version-check \
        -c /build/constraints.txt -r /build/requirements.txt \
    && /opt/flightpipe/bin/pip download --quiet --no-cache-dir --disable-pip-version-check \
        --no-deps --no-binary=:all: --require-hashes --dest /build/sdist -r /build/s3a-jars.txt \
    && mkdir /opt/flightpipe/spark-jars \
    && tar -xzf /build/sdist/*.tar.gz -C /opt/flightpipe/spark-jars --strip-components=3 \
        --wildcards '*/deps/jars/hadoop-aws-*.jar' '*/deps/jars/aws-java-sdk-bundle-*.jar'
# The plugins' package after the pinned packages, so that an edit of it rebuilds this step only.
COPY localstack/pyproject.toml /build/localstack/pyproject.toml
COPY localstack/flightpipe_localstack /build/localstack/flightpipe_localstack
RUN if [ -f /build/build-ca.crt ]; then export PIP_CERT=/build/build-ca.crt; fi \
    && /opt/flightpipe/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps /build/localstack

FROM python
COPY --from=dependencies /opt/flightpipe /opt/flightpipe
# Debian's PostgreSQL JDBC driver beside the S3A jars, where `make install` puts it too: the jobs
# open their own JDBC connection on the Spark driver (glue_job/flightjob/warehouse.py).
RUN ln -s /usr/share/java/postgresql.jar /opt/flightpipe/spark-jars/postgresql.jar
WORKDIR /app
COPY pyproject.toml README.md ./
COPY flightpipe flightpipe
COPY chalice_app chalice_app
COPY glue_job glue_job
COPY infra infra
COPY sql sql
COPY stepfunctions stepfunctions
COPY sample_data sample_data
ENV PATH=/opt/flightpipe/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    FLIGHTPIPE_STATE_DIR=/var/lib/flightpipe
EXPOSE 4567
# 0.0.0.0: LocalStack reaches it on the compose network (nothing publishes this port).
CMD ["python3", "-m", "flightpipe.stack.glue_service", "--host", "0.0.0.0", "--port", "4567", \
     "--aws-endpoint", "http://localstack:4566", "--log-dir", "/var/lib/flightpipe/logs", \
     "--log-file", "/var/lib/flightpipe/logs/glue.log"]
