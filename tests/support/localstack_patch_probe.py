"""Run in LocalStack's virtualenv (``.venv/localstack/bin/python -P``: not from tests/, whose
``docker`` package would hide the Docker SDK LocalStack imports), by
tests/unit/test_localstack_patches.py: what the patches of ``flightpipe_localstack`` do to the
LocalStack installed there, printed as JSON. Nothing is started and nothing listens.

``apply``: the patches' hooks, loaded through LocalStack's own plugin manager from the entry
points ``make install`` registered (as the runtime loads them), then where each patch left its
mark, and what a second install does. ``refuse``: each patch's target replaced first by what a
changed LocalStack could hold there; what each install then raises.

This file imports only LocalStack and the plugin package (LocalStack's virtualenv has neither
pytest nor the project).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any


def _hooks(names: dict[str, list[str]]) -> None:
    from plux import PluginManager

    for namespace, plugins in names.items():
        manager = PluginManager(namespace)
        for name in plugins:
            manager.load(name)()


def _applied(owner: Any, name: str, patch_id: str) -> bool:
    from flightpipe_localstack import patching

    value = vars(owner).get(name)
    inner = value.__func__ if isinstance(value, staticmethod) else value
    return patch_id in (getattr(value, patching.MARK, None), getattr(inner, patching.MARK, None))


def _callback() -> Any:
    from localstack.services.stepfunctions.asl.component.state.state_execution.state_task.service import (  # noqa: E501
        state_task_service_callback,
    )

    return state_task_service_callback


def _packages_fix() -> bool:
    api = sys.modules.get("localstack.packages.api")
    return api is not None and api.Lock is threading.Lock


def _sfn_sync_fix() -> bool:
    from flightpipe_localstack import sfn_sync_fix

    owner = _callback().StateTaskServiceCallback
    return _applied(owner, "_eval_integration_pattern", sfn_sync_fix.PATCH_ID)


def _sfn_sdk_timestamps() -> bool:
    from flightpipe_localstack import sfn_sdk_timestamps
    from localstack.services.stepfunctions.asl.component.state.state_execution.state_task.service import (  # noqa: E501
        state_task_service,
    )

    owner = state_task_service.StateTaskService
    return _applied(owner, sfn_sdk_timestamps.METHOD, sfn_sdk_timestamps.PATCH_ID)


def _sfn_jsonpath_cache() -> bool:
    from flightpipe_localstack import sfn_jsonpath_cache

    return all(
        _applied(module, "parse", sfn_jsonpath_cache.PATCH_ID)
        for module in sfn_jsonpath_cache.patched_modules()
    )


def _clock() -> bool:
    from flightpipe_localstack import clock
    from localstack.services.stepfunctions.asl.component.common.retry import retrier_decl
    from localstack.services.stepfunctions.asl.component.state.state_wait.wait_function.wait_function import (  # noqa: E501
        WaitFunction,
    )

    return (
        _applied(WaitFunction, "_wait_interval", clock.PATCH_ID)
        and isinstance(retrier_decl.time, clock._ScaledTime)
        and _callback()._DELAY_SECONDS_SYNC_CONDITION_CHECK != clock.SYNC_DELAY_DEFAULT
    )


def _sns() -> bool:
    import importlib

    from flightpipe_localstack import sns

    return all(
        _applied(importlib.import_module(module).SnsProvider, operation, sns.PATCH_ID)
        for module in sns.PROVIDERS
        for operation in ("publish", "publish_batch")
    )


def _s3_events() -> bool:
    from flightpipe_localstack import s3_events
    from localstack.services.s3 import notifications

    owner = notifications.EventBridgeNotifier
    return _applied(owner, "_get_event_payload", s3_events.PATCH_ID)


def _s3_listing() -> bool:
    from flightpipe_localstack import s3_listing
    from localstack.services.s3.provider import S3Provider

    return all(_applied(S3Provider, op, s3_listing.PATCH_ID) for op in s3_listing.OPERATIONS)


def _events_rules() -> bool:
    from flightpipe_localstack import events_rules
    from localstack.services.events.provider import EventsProvider

    return _applied(EventsProvider, "_process_rules", events_rules.PATCH_ID)


def _assumed_roles() -> bool:
    from flightpipe_localstack import assumed_roles
    from localstack.aws.connect import ClientFactory

    return _applied(ClientFactory, "with_assumed_role", assumed_roles.PATCH_ID)


def _lambda_log_group() -> bool:
    from flightpipe_localstack import lambda_log_group
    from localstack.services.lambda_.invocation.execution_environment import (
        ExecutionEnvironment,
    )

    return _applied(ExecutionEnvironment, "get_log_group_name", lambda_log_group.PATCH_ID)


def _catalog() -> bool:
    from flightpipe_localstack import catalog
    from localstack.utils.catalog import plugins

    return getattr(plugins.get_aws_catalog(), "__flightpipe_patch__", None) == catalog.PATCH_ID


def _cfn() -> bool:
    from flightpipe_localstack import cfn_patches
    from localstack.services.cloudformation.engine.v2 import change_set_model_transform
    from localstack.services.cloudformation.engine.v2.change_set_model_preproc import (
        ChangeSetModelPreproc,
    )

    return _applied(
        change_set_model_transform, "apply_language_extensions_transform", cfn_patches.TO_JSON_PATCH
    ) and _applied(ChangeSetModelPreproc, "visit_node_resource", cfn_patches.CONDITIONED_PATCH)


def _cfn_state_machine_name() -> bool:
    from flightpipe_localstack import cfn_patches
    from localstack.services.stepfunctions.resource_providers import (
        aws_stepfunctions_statemachine as machines,
    )

    owner = machines.StepFunctionsStateMachineProvider
    return _applied(owner, "update", cfn_patches.STATE_MACHINE_NAME_PATCH)


MARKS: dict[str, Callable[[], bool]] = {
    "packages_fix": _packages_fix,
    "sfn_sync_fix": _sfn_sync_fix,
    "sfn_sdk_timestamps": _sfn_sdk_timestamps,
    "sfn_jsonpath_cache": _sfn_jsonpath_cache,
    "assumed_roles": _assumed_roles,
    "clock": _clock,
    "sns": _sns,
    "s3_events": _s3_events,
    "s3_listing": _s3_listing,
    "events_rules": _events_rules,
    "catalog": _catalog,
    "cfn": _cfn,
    "cfn_state_machine_name": _cfn_state_machine_name,
    "lambda_log_group": _lambda_log_group,
}


def marks() -> dict[str, bool | str]:
    """Whether each patch is in place where it patches (with the packages fix left out, what
    imports ``localstack.packages`` cannot be imported at all: then the error)."""
    found: dict[str, bool | str] = {}
    for name, mark in MARKS.items():
        try:
            found[name] = mark()
        except Exception as error:
            found[name] = f"{type(error).__name__}: {error}"
    return found


def installs() -> dict[str, Callable[[], Any]]:
    from flightpipe_localstack import (
        assumed_roles,
        catalog,
        cfn_patches,
        clock,
        events_rules,
        lambda_log_group,
        packages_fix,
        s3_events,
        s3_listing,
        sfn_jsonpath_cache,
        sfn_sdk_timestamps,
        sfn_sync_fix,
        sns,
    )

    return {
        "packages_fix": packages_fix.install,
        "sfn_sync_fix": sfn_sync_fix.install,
        "sfn_sdk_timestamps": sfn_sdk_timestamps.install,
        "sfn_jsonpath_cache": sfn_jsonpath_cache.install,
        "assumed_roles": assumed_roles.install,
        "clock": lambda: clock.install().name,
        "sns": sns.install,
        "s3_events": s3_events.install,
        "s3_listing": s3_listing.install,
        "events_rules": events_rules.install,
        "catalog": catalog.install,
        "cfn": lambda: [
            cfn_patches.install_to_json_string(),
            cfn_patches.install_skip_conditioned_out(),
        ],
        "cfn_state_machine_name": cfn_patches.install_state_machine_update_keeps_name,
        "lambda_log_group": lambda_log_group.install,
    }


def apply(hooks: dict[str, list[str]]) -> dict[str, Any]:
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logging.getLogger("flightpipe.localstack").addHandler(Keep())
    logging.getLogger("flightpipe.localstack").setLevel(logging.INFO)
    from localstack.version import __version__

    _hooks(hooks)
    found = marks()
    again = {}
    for name, install in installs().items():
        try:
            again[name] = install() if found[name] else "not applied"
        except Exception as error:  # reported, not raised: the test names the patch
            again[name] = f"{type(error).__name__}: {error}"
    return {
        "localstack": __version__,
        "python": list(sys.version_info[:2]),
        "applied": found,
        "again": again,
        "log": records,
    }


# What a LocalStack that changed where a patch applies could hold there, by patch: (module,
# owner in it or "" for the module, attribute, stand-in). The stand-ins are functions of this
# file, so that the patches' checks, which read source (inspect.getsource), can read theirs.


def _guarded_interrupt(self, env, resource_runtime_part, normalised_parameters, creds):
    # Upstream's fix (localstack/localstack, 4.14.0): the call guarded on a line of its own.
    callback_endpoint = None
    try:
        pass
    finally:
        if callback_endpoint:
            callback_endpoint.interrupt_all()


def _serialising_response_value(response_value):
    # Timestamps written as text by LocalStack itself (what an upstream fix would do).
    if hasattr(response_value, "isoformat"):
        return response_value.isoformat()
    return response_value


def _caching_assumed_role(self, role_arn, service_principal=None, session_name=None, **kwargs):
    # What an upstream fix could hold: the role's session kept in a cache of its own.
    cache = {}
    return cache.setdefault(role_arn, self.assume_role(role_arn, session_name))


def _caching_parse(path):
    # What an upstream fix could hold: jsonpath_ng's parse behind a cache of LocalStack's own.
    return path


def _unscaled_wait(self, env, wait_seconds):
    env.program_state_event.wait(wait_seconds)


def _strict_publish(self, context, topic_arn=None, message=None, subject=None, **kwargs):
    if subject is not None and not subject.isascii():  # stricter than 4.13.1's empty check
        raise ValueError(subject)


def _raw_key_payload(ctx, config_id=None):
    return {"detail": {"object": {"key": ctx.s3_object_key}}}


def _raw_listing(self, context, bucket, encoding_type=None, start_after=None, **kwargs):
    return {"Contents": []}


def _state_aware_rules(self, rule, region, account_id, event_formatted, trace_header):
    if rule.state == "DISABLED":  # as a fixed LocalStack would skip it
        return None
    return rule.event_pattern


def _naming_update(self, request):
    # What an upstream fix could hold: the name carried over with the ARN.
    model = request.desired_state
    model["Name"] = request.previous_state["Name"]
    return model


def _configured_log_group(self):
    # What an upstream fix could hold: the function's logging config read here.
    return self.function_version.config.logging_config.get("LogGroup")


def _plain_catalog():
    return None


def _skips_conditioned_out(self, node_resource):
    condition_after = None
    if condition_after is False:  # as upstream skips such resources after 4.13.1
        return None
    return node_resource.properties


_CALLBACK = (
    "localstack.services.stepfunctions.asl.component.state.state_execution.state_task.service."
    "state_task_service_callback"
)
_WAIT = (
    "localstack.services.stepfunctions.asl.component.state.state_wait.wait_function.wait_function"
)
STAND_INS: dict[str, tuple[str, str, str, Any]] = {
    "sfn_sync_fix": (
        _CALLBACK,
        "StateTaskServiceCallback",
        "_eval_integration_pattern",
        _guarded_interrupt,
    ),
    "sfn_sdk_timestamps": (
        _CALLBACK.rsplit(".", 1)[0] + ".state_task_service",
        "StateTaskService",
        "_from_boto_response_value",
        staticmethod(_serialising_response_value),
    ),
    "sfn_jsonpath_cache": (
        "localstack.services.stepfunctions.asl.utils.json_path",
        "",
        "parse",
        _caching_parse,
    ),
    "assumed_roles": (
        "localstack.aws.connect",
        "ClientFactory",
        "with_assumed_role",
        _caching_assumed_role,
    ),
    "clock": (_WAIT, "WaitFunction", "_wait_interval", _unscaled_wait),
    "sns": ("localstack.services.sns.provider", "SnsProvider", "publish", _strict_publish),
    "s3_events": (
        "localstack.services.s3.notifications",
        "EventBridgeNotifier",
        "_get_event_payload",
        staticmethod(_raw_key_payload),
    ),
    "s3_listing": (
        "localstack.services.s3.provider",
        "S3Provider",
        "list_objects_v2",
        _raw_listing,
    ),
    "events_rules": (
        "localstack.services.events.provider",
        "EventsProvider",
        "_process_rules",
        _state_aware_rules,
    ),
    "catalog": ("localstack.utils.catalog.plugins", "", "get_aws_catalog", _plain_catalog),
    "cfn": (
        "localstack.services.cloudformation.engine.v2.change_set_model_preproc",
        "ChangeSetModelPreproc",
        "visit_node_resource",
        _skips_conditioned_out,
    ),
    "lambda_log_group": (
        "localstack.services.lambda_.invocation.execution_environment",
        "ExecutionEnvironment",
        "get_log_group_name",
        _configured_log_group,
    ),
    "cfn_state_machine_name": (
        "localstack.services.stepfunctions.resource_providers.aws_stepfunctions_statemachine",
        "StepFunctionsStateMachineProvider",
        "update",
        _naming_update,
    ),
}


def refuse() -> dict[str, str]:
    """Each patch's install after its target was replaced by a stand-in: what it raised."""
    import importlib

    from flightpipe_localstack import packages_fix

    packages_fix.install()  # Step Functions' modules cannot be imported before it
    found = {}
    steps = installs()
    for name, (module_name, owner_name, attribute, stand_in) in STAND_INS.items():
        module = importlib.import_module(module_name)
        owner = getattr(module, owner_name) if owner_name else module
        setattr(owner, attribute, stand_in)
        try:
            found[name] = f"applied: {steps[name]()!r}"
        except Exception as error:
            found[name] = f"{type(error).__name__}: {error}"
    return found


def main() -> None:
    mode = sys.argv[1]
    if mode == "apply":
        print(json.dumps(apply(json.loads(sys.argv[2]))))
    elif mode == "refuse":
        print(json.dumps(refuse()))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
