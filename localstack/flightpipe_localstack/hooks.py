"""LocalStack runtime hooks applying this package's patches.

* ``localstack.hooks.on_runtime_create``: the packages fix, run by
  ``runtime.create_from_environment`` (``localstack/runtime/runtime.py:178``) before anything
  else imports ``localstack.packages``.
* ``localstack.hooks.on_infra_start``: the others, run by ``LocalstackRuntime._on_starting``
  (``runtime.py:123-125``) before the gateway listens, highest ``priority`` first
  (``localstack/runtime/hooks.py:49-65``).

An exception in a hook ends the start-up ("ERROR: the LocalStack runtime exited unexpectedly",
``runtime/main.py:84-87``): a patch that finds LocalStack changed stops it rather than let it run
without the fix. ``FLIGHTPIPE_LOCALSTACK_SKIP`` (comma-separated names: packages_fix,
sfn_sync_fix, sfn_sdk_timestamps, sfn_jsonpath_cache, assumed_roles, clock, sns, s3_events,
s3_listing, events_rules, catalog, cfn, cfn_state_machine_name, lambda_log_group) leaves those
patches out, to see LocalStack's own behaviour (the tests that show each defect do).
"""

from __future__ import annotations

import logging
import os

from localstack.runtime import hooks

log = logging.getLogger("flightpipe.localstack")
SKIP_VARIABLE = "FLIGHTPIPE_LOCALSTACK_SKIP"


def _enabled(name: str) -> bool:
    skipped = {part.strip() for part in os.environ.get(SKIP_VARIABLE, "").split(",")}
    if name in skipped:
        log.warning("flightpipe: patch %s skipped (%s)", name, SKIP_VARIABLE)
    return name not in skipped


def _fix_packages() -> None:
    # Everything under services/stepfunctions and lambda_ imports localstack.packages.
    from flightpipe_localstack import packages_fix

    if packages_fix.install():
        log.info("flightpipe: localstack.packages.api imported with the Lock | None fix")


# on_runtime_create runs first of all (runtime.py:178, create_from_environment), before the
# on_infra_start hooks are resolved: LocalStack's own Lambda hooks there import
# localstack.packages and are otherwise dropped ("error resolving PluginSpec").
@hooks.on_runtime_create()
def flightpipe_packages_fix() -> None:
    if _enabled("packages_fix"):
        _fix_packages()


@hooks.on_infra_start(priority=150)
def flightpipe_sfn_sync_fix() -> None:
    # Both fixes of the Step Functions interpreter's task results (one hook, one entry point).
    if _enabled("sfn_sync_fix"):
        _fix_packages()
        from flightpipe_localstack import sfn_sync_fix

        if sfn_sync_fix.install():
            log.info("flightpipe: Step Functions .sync without task token fixed (interrupt_all)")
    if _enabled("sfn_sdk_timestamps"):
        _fix_packages()
        from flightpipe_localstack import sfn_sdk_timestamps

        if sfn_sdk_timestamps.install():
            log.info("flightpipe: aws-sdk task results hold timestamps as AWS writes them")


@hooks.on_infra_start(priority=150)
def flightpipe_sfn_jsonpath_cache() -> None:
    if not _enabled("sfn_jsonpath_cache"):
        return
    _fix_packages()
    from flightpipe_localstack import sfn_jsonpath_cache

    if sfn_jsonpath_cache.install():
        log.info("flightpipe: Step Functions parses each JSONPath once")


@hooks.on_infra_start(priority=150)
def flightpipe_assumed_roles() -> None:
    if not _enabled("assumed_roles"):
        return
    from flightpipe_localstack import assumed_roles

    if assumed_roles.install():
        log.info("flightpipe: an assumed role's clients are kept for its session")


@hooks.on_infra_start(priority=150)
def flightpipe_clock() -> None:
    if not _enabled("clock"):
        return
    _fix_packages()
    from flightpipe_localstack import clock

    model = clock.install()
    log.info("flightpipe: Step Functions clock %s at %gx", model.name, model.scale)


@hooks.on_infra_start(priority=150)
def flightpipe_sns_subject() -> None:
    if not _enabled("sns"):
        return
    from flightpipe_localstack import sns

    if sns.install():
        log.info("flightpipe: SNS Publish refuses the Subjects AWS refuses")


@hooks.on_infra_start(priority=150)
def flightpipe_s3_event_keys() -> None:
    if not _enabled("s3_events"):
        return
    from flightpipe_localstack import s3_events

    if s3_events.install():
        log.info("flightpipe: S3 -> EventBridge events carry the object key unencoded")


@hooks.on_infra_start(priority=150)
def flightpipe_s3_listing() -> None:
    if not _enabled("s3_listing"):
        return
    from flightpipe_localstack import s3_listing

    if s3_listing.install():
        log.info("flightpipe: S3 listings compare raw keys with StartAfter/markers")


@hooks.on_infra_start(priority=150)
def flightpipe_events_rules() -> None:
    if not _enabled("events_rules"):
        return
    from flightpipe_localstack import events_rules

    if events_rules.install():
        log.info("flightpipe: EventBridge skips disabled rules")


@hooks.on_infra_start(priority=150)
def flightpipe_catalog() -> None:
    if not _enabled("catalog"):
        return
    from flightpipe_localstack import catalog

    if catalog.install():
        log.info("flightpipe: resource types supported = those with a provider (no download)")


@hooks.on_infra_start(priority=150)
def flightpipe_cfn() -> None:
    from flightpipe_localstack import cfn_patches

    if _enabled("cfn"):
        if cfn_patches.install_to_json_string():
            log.info("flightpipe: Fn::ToJsonString resolves its argument's intrinsics")
        if cfn_patches.install_skip_conditioned_out():
            log.info("flightpipe: resources whose condition is false are not evaluated")
    if _enabled("cfn_state_machine_name"):
        _fix_packages()  # the Step Functions resource provider imports localstack.packages
        if cfn_patches.install_state_machine_update_keeps_name():
            log.info("flightpipe: a state machine updated in place keeps its Name attribute")


@hooks.on_infra_start(priority=150)
def flightpipe_lambda_log_group() -> None:
    if not _enabled("lambda_log_group"):
        return
    from flightpipe_localstack import lambda_log_group

    if lambda_log_group.install():
        log.info("flightpipe: functions log to the group their LoggingConfig names")


# Not a patch: every call made with a role's session checked against the role's policies
# (iam_check.py), where the launcher names the evaluator (FLIGHTPIPE_IAM_EVALUATOR; unset, off).
@hooks.on_infra_start(priority=10)
def flightpipe_iam_check() -> None:
    from flightpipe_localstack import iam_check

    if iam_check.install():
        log.info("flightpipe: each role's calls are checked against its policies")


# Not a patch: AWS's names resolved to LocalStack where FLIGHTPIPE_AWS_HOSTNAMES names them (the
# compose stack), after LocalStack's DNS server starts (localstack/dns/plugins.py, priority 20).
@hooks.on_infra_start(priority=10)
def flightpipe_aws_names() -> None:
    from flightpipe_localstack import aws_names

    added = aws_names.install()
    if added:
        log.info("flightpipe: DNS resolves %s to LocalStack", ", ".join(added))
