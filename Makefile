# The front door: `make` lists the targets. Every target installs what it needs first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ASL_VALIDATOR := tools/asl/node_modules/.bin/asl-validator
IAM_EVALUATOR_MODULES := tools/iam/node_modules/.package-lock.json
AWS_GLUE_REFERENCE := $(VENV)/reference/aws-glue
SPARK_JARS := $(VENV)/spark-jars
LOCALSTACK_VENV := $(VENV)/localstack
LOCALSTACK_CATALOG := $(LOCALSTACK_VENV)/static
PYTEST_ARGS ?=
STAGE ?= dev

.PHONY: help install test test-fast test-unit test-functional test-integration test-docker test-browser lint local-up local-down local-status local-e2e compose-standins compose-up compose-down compose-e2e compose-shell compose-check-image replay backfill package preflight deploy chalice-config smoke clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  make %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(STAMP) $(ASL_VALIDATOR) $(IAM_EVALUATOR_MODULES) $(AWS_GLUE_REFERENCE)/.installed $(SPARK_JARS)/.installed $(SPARK_JARS)/postgresql.jar $(SPARK_JARS)/flightpipe-run-fs.jar $(LOCALSTACK_VENV)/.plugins $(LOCALSTACK_CATALOG)/.built ## Create .venv and install the pinned dependencies (quick when nothing changed)

$(STAMP): pyproject.toml constraints.txt
	@scripts/check_prereqs.sh python
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

# LocalStack (community, pinned) in a virtualenv of its own: its dependencies pin versions the
# project's differ from (boto3, moto). With it, the project's plugins (localstack/), and the
# packages a python3.11 Lambda function finds in AWS's runtime (lambda-runtime/, for the
# subprocess executor).
PIP_QUIET := --quiet --disable-pip-version-check
$(LOCALSTACK_VENV)/.installed: localstack/requirements.txt localstack/constraints.txt localstack/lambda-runtime.txt | $(STAMP)
	rm -rf $(LOCALSTACK_VENV)
	$(PYTHON) -m venv $(LOCALSTACK_VENV)
	$(LOCALSTACK_VENV)/bin/python -m pip install $(PIP_QUIET) -c localstack/constraints.txt -r localstack/requirements.txt
	$(LOCALSTACK_VENV)/bin/python -m pip install $(PIP_QUIET) --no-deps --target $(LOCALSTACK_VENV)/lambda-runtime -r localstack/lambda-runtime.txt
	@touch $@

# The plugins, editable (an edit of their code needs no install; of their entry points, this).
$(LOCALSTACK_VENV)/.plugins: localstack/pyproject.toml $(LOCALSTACK_VENV)/.installed
	$(LOCALSTACK_VENV)/bin/python -m pip install $(PIP_QUIET) --no-deps -e localstack
	$(BIN)/python -m pip install $(PIP_QUIET) --no-deps -e localstack
	@touch $@

# LocalStack's index of the AWS service specifications, built once at install with the step its
# official image is built with (`python -m localstack.aws.spec`, into its static libraries;
# localstack/localstack pull request 12314): without it, the first start in a state folder
# builds it, which makes that start slower and LocalStack's process larger for its whole life
# (docs/performance.md). `flightpipe local up` copies it into the state folder
# (flightpipe/stack/local.py).
$(LOCALSTACK_CATALOG)/.built: $(LOCALSTACK_VENV)/.installed
	rm -rf $(LOCALSTACK_CATALOG) && mkdir -p $(LOCALSTACK_CATALOG)/usr/lib/localstack
	OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT=$(LOCALSTACK_CATALOG) $(LOCALSTACK_VENV)/bin/python -m localstack.aws.spec
	@touch $@

# AWS's awsglue, outside the project's import path: the local runtime's conformance test reads it.
$(AWS_GLUE_REFERENCE)/.installed: tests/reference/aws-glue.txt | $(STAMP)
	rm -rf $(AWS_GLUE_REFERENCE)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
	    --require-hashes --target $(AWS_GLUE_REFERENCE) -r tests/reference/aws-glue.txt
	@touch $@

# Hadoop's S3A connector for the local Spark (Glue reads s3:// natively): two jars out of a pinned
# PyPI sdist, the only source reachable without Maven (flightpipe/gluelocal/s3a-jars.txt says why).
S3A_SDIST := sagemaker_pyspark-1.4.5
$(SPARK_JARS)/.installed: flightpipe/gluelocal/s3a-jars.txt | $(STAMP)
	rm -rf $(SPARK_JARS)
	$(BIN)/python -m pip download --quiet --disable-pip-version-check --no-deps --no-binary=:all: \
	    --require-hashes --dest $(SPARK_JARS)/sdist -r flightpipe/gluelocal/s3a-jars.txt
	tar -xzf $(SPARK_JARS)/sdist/$(S3A_SDIST).tar.gz -C $(SPARK_JARS) --strip-components=3 \
	    $(S3A_SDIST)/deps/jars/hadoop-aws-3.3.1.jar $(S3A_SDIST)/deps/jars/aws-java-sdk-bundle-1.11.901.jar
	rm -rf $(SPARK_JARS)/sdist
	@touch $@

# The PostgreSQL JDBC driver for the local Spark: the jobs open their own JDBC connection on the
# driver (glue_job/flightjob/warehouse.py), with the driver AWS Glue puts on a job's class path.
# Maven is not reachable from here, so it is taken from the system (Debian:
# libpostgresql-jdbc-java), or from PG_JDBC_JAR.
PG_JDBC_JAR ?= /usr/share/java/postgresql.jar
$(SPARK_JARS)/postgresql.jar: $(SPARK_JARS)/.installed
	@PG_JDBC_JAR=$(PG_JDBC_JAR) scripts/check_prereqs.sh pgjdbc
	cp $(PG_JDBC_JAR) $@

# Each local job run's own S3 file systems, made with its role's credentials (RunFileSystem.java
# and RunCredentials.java say why; flightpipe/gluelocal/runner.py, run_session), compiled against
# the Hadoop client PySpark ships and the AWS SDK of the S3A connector.
RUN_FS_SOURCES := $(wildcard flightpipe/gluelocal/java/flightpipe/hadoop/*.java)
$(SPARK_JARS)/flightpipe-run-fs.jar: $(RUN_FS_SOURCES) $(SPARK_JARS)/.installed
	@scripts/check_prereqs.sh javac
	rm -rf $(SPARK_JARS)/classes
	hadoop="$$($(BIN)/python -c 'import pathlib, pyspark; \
	    print(*(pathlib.Path(pyspark.__file__).parent / "jars").glob("hadoop-client-api-*.jar"))')" && \
	    javac --release 17 -d $(SPARK_JARS)/classes \
	    -cp "$$hadoop:$(SPARK_JARS)/aws-java-sdk-bundle-1.11.901.jar" $(RUN_FS_SOURCES)
	cd $(SPARK_JARS)/classes && $(abspath $(BIN))/python -m zipfile -c ../flightpipe-run-fs.jar flightpipe
	rm -rf $(SPARK_JARS)/classes

# The IAM evaluator the local stack checks each role's calls with (flightpipe_localstack/iam_check.py).
$(IAM_EVALUATOR_MODULES): tools/iam/package-lock.json
	@scripts/check_prereqs.sh node
	npm ci --prefix tools/iam --no-audit --no-fund --loglevel=error
	@touch $@

$(ASL_VALIDATOR): tools/asl/package-lock.json
	@scripts/check_prereqs.sh node
	npm ci --prefix tools/asl --no-audit --no-fund --loglevel=error
	@touch $@

test: install ## Run the whole suite, with a throwaway PostgreSQL unless DATABASE_URL is set
	@scripts/check_prereqs.sh java postgres
	@docker info >/dev/null 2>&1 || echo "note: no Docker engine answers: the docker tier (tests/docker) will be skipped"
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || echo "note: no Chromium: the browser tests will be skipped"
	$(BIN)/flightpipe postgres run -- $(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install ## The unit tests that need no Spark: the quick loop while editing (under a minute)
	$(BIN)/python -m pytest -m "unit and not spark" $(PYTEST_ARGS)

test-unit: install ## Unit tests only (no servers)
	@scripts/check_prereqs.sh java
	$(BIN)/python -m pytest -m unit $(PYTEST_ARGS)

test-functional: install ## Functional tests (moto-backed AWS in-process, real PostgreSQL)
	@scripts/check_prereqs.sh java postgres
	$(BIN)/flightpipe postgres run -- $(BIN)/python -m pytest -m functional $(PYTEST_ARGS)

test-integration: install ## Integration tests (real services started by the tests)
	@scripts/check_prereqs.sh java postgres
	$(BIN)/flightpipe postgres run -- $(BIN)/python -m pytest -m integration $(PYTEST_ARGS)

test-docker: install ## The docker tier: the compose stack (LocalStack, Glue service, PostgreSQL) with stand-ins
	$(BIN)/python -m pytest -m docker $(PYTEST_ARGS)

test-browser: install ## The browser tests: the dashboard in headless Chromium against a stack
	@scripts/check_prereqs.sh java postgres
	$(BIN)/flightpipe postgres run -- $(BIN)/python -m pytest -m browser $(PYTEST_ARGS)

lint: install ## ruff (lint and format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy flightpipe glue_job chalice_app

local-up: install ## Start PostgreSQL, the Glue service and LocalStack, deploy the pipeline, write .local/stack.env
	@scripts/check_prereqs.sh java postgres
	$(BIN)/flightpipe local up

local-down: ## Stop LocalStack, the Glue service and PostgreSQL (by pid)
	@test -x $(BIN)/flightpipe && $(BIN)/flightpipe local down || echo "nothing installed, nothing running"

local-status: install ## Each day's last run (a table; the dashboard's address), on either stack
	$(BIN)/flightpipe status

local-e2e: install ## The whole flow on the sample data, checked; stops the stack unless KEEP=1
	@scripts/check_prereqs.sh java postgres
	$(BIN)/flightpipe e2e

# The container path (docker-compose.yml). A machine that cannot pull the official images builds
# stand-ins first: make compose-standins [CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt] (the CA of
# a proxy that re-signs HTTPS, for pip inside the builds; kept in .local/, never committed).
compose-standins: install ## Build stand-in images from Debian and PyPI alone (no registry needed)
	$(BIN)/flightpipe compose standins $(if $(CA_BUNDLE),--ca-bundle $(CA_BUNDLE))

compose-up: install ## Start the compose stack, deploy the pipeline (job runs in Glue containers), write .local/stack.env
	$(BIN)/flightpipe compose up

compose-down: ## Remove the compose stack: job containers, containers, network, volumes
	@test -x $(BIN)/flightpipe && $(BIN)/flightpipe compose down || echo "nothing installed, nothing running"

compose-e2e: install ## make local-e2e against the compose stack; stops it unless KEEP=1
	$(BIN)/flightpipe e2e --compose

compose-shell: install ## A shell in the Glue image with a job run's environment (stack up)
	$(BIN)/flightpipe compose shell

compose-check-image: install ## The Glue image's facts and a probe job's verdict per step (stack up)
	$(BIN)/flightpipe compose check-image

# Reprocessing costs Glue time on AWS: a deployed stage only when STAGE is given
# (make replay STAGE=dev ..., as a stage's failure notification writes it); otherwise the local
# stack.
RUN_STAGE = $(if $(filter file,$(origin STAGE)),local,$(STAGE))

replay: install ## Reprocess a day from the objects already in S3: make replay DATE=YYYY-MM-DD [STAGE=dev|prod]
	@test -n "$(DATE)" || { echo "usage: make replay DATE=YYYY-MM-DD [STAGE=local|dev|prod]" >&2; exit 2; }
	$(BIN)/flightpipe replay --date $(DATE) --stage $(RUN_STAGE)

backfill: install ## Reprocess days from S3: make backfill FROM=YYYY-MM-DD TO=YYYY-MM-DD [STAGE=dev|prod] [WINDOW=n]
	@test -n "$(FROM)" -a -n "$(TO)" || { echo "usage: make backfill FROM=YYYY-MM-DD TO=YYYY-MM-DD [STAGE=local|dev|prod] [WINDOW=n]" >&2; exit 2; }
	$(BIN)/flightpipe backfill --from $(FROM) --to $(TO) --stage $(RUN_STAGE) $(if $(WINDOW),--window $(WINDOW))

package: install ## Write dist/: the Chalice package merged with infra/pipeline.yaml, linted (offline)
	rm -rf dist
	@# E3001 (no Type) and W8001 (their Condition unseen): OnObjectCreated and OnExecutionFailed
	@# only add to Chalice's functions; dist/sam.yaml, the whole template, is linted in full.
	$(BIN)/cfn-lint --ignore-checks E3001 W8001 -- infra/pipeline.yaml
	cd chalice_app && AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} ../$(BIN)/chalice package \
	    --stage $(STAGE) --merge-template ../infra/pipeline.yaml ../dist
	$(BIN)/cfn-lint dist/sam.yaml

# The Glue jobs' package, one archive (flightpipe/infra/job_archive.py), uploaded under a prefix
# named by its content (GlueLibraryPrefix).
JOB_ARCHIVE := dist/glue-lib/flightjob.zip

# Parameters: PARAMS_FILE (CloudFormation's parameter JSON; any character survives) and PARAMS
# (plain Key=Value words; no password), merged into one file by `flightpipe parameters`.
# A password in PARAMS would pass through the shell and stay in its history (docs/operations.md).
NO_PASSWORD_IN_PARAMS = $(if $(findstring WarehousePassword=,$(PARAMS)),$(error WarehousePassword in PARAMS would pass through the shell and stay in its history: put it in PARAMS_FILE, or use WarehouseSecretArn (docs/operations.md)))

deploy: package ## Deploy to AWS (STAGE=dev|prod ARTIFACT_BUCKET=... PARAMS_FILE=... [PARAMS="Key=Value ..."]); see docs/operations.md
	$(NO_PASSWORD_IN_PARAMS)
	@test -n "$(ARTIFACT_BUCKET)" || { echo "ARTIFACT_BUCKET is required: an S3 bucket for the packaged artifacts" >&2; exit 2; }
	prefix=flightpipe-$(STAGE) && \
	$(BIN)/flightpipe job-archive --out $(dir $(JOB_ARCHIVE)) && \
	library=s3://$(ARTIFACT_BUCKET)/$$prefix/glue-lib/$$(sha256sum $(JOB_ARCHIVE) | cut -c1-16)/ && \
	overrides=$$(mktemp) && trap 'rm -f "$$overrides"' EXIT && \
	$(BIN)/flightpipe parameters --out "$$overrides" $(if $(PARAMS_FILE),--file "$(PARAMS_FILE)") \
	    Stage=$(STAGE) ArtifactBucket=$(ARTIFACT_BUCKET) ArtifactPrefix=$$prefix \
	    GlueLibraryPrefix=$$library $(PARAMS) && \
	$(BIN)/aws s3 cp --only-show-errors $(JOB_ARCHIVE) $$library && \
	$(BIN)/aws cloudformation package --template-file dist/sam.yaml --s3-bucket $(ARTIFACT_BUCKET) \
	    --s3-prefix $$prefix --output-template-file dist/packaged.yaml && \
	$(BIN)/aws cloudformation deploy --template-file dist/packaged.yaml --stack-name flightpipe-$(STAGE) \
	    --s3-bucket $(ARTIFACT_BUCKET) --s3-prefix $$prefix \
	    --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --parameter-overrides "file://$$overrides"

preflight: install ## Before a deploy: check by API what it needs (make preflight STAGE=dev ARTIFACT_BUCKET=... PARAMS_FILE=...)
	$(NO_PASSWORD_IN_PARAMS)
	$(BIN)/flightpipe preflight --stage $(STAGE) $(if $(ARTIFACT_BUCKET),--artifact-bucket "$(ARTIFACT_BUCKET)") \
	    $(if $(PARAMS_FILE),--file "$(PARAMS_FILE)") $(PARAMS)

chalice-config: install ## Configure `chalice deploy --stage $(STAGE)` from the stage's stack outputs (docs/operations.md)
	$(BIN)/flightpipe chalice-config --stage $(STAGE)

smoke: install ## After a deploy: one upload through the pipeline, reported (make smoke STAGE=dev|prod|local)
	$(BIN)/flightpipe smoke --stage $(STAGE) $(if $(AIRPORTS),--airports "$(AIRPORTS)")

clean: ## Remove the virtualenv, local state and build output (.venv, .local, dist)
	rm -rf $(VENV) .local dist
