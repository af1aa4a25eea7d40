"""Fixes to LocalStack 4.13.1's CloudFormation engine (v2) that the pipeline's template needs.

``Fn::ToJsonString`` (``AWS::LanguageExtensions``): 4.13.1 writes its argument with
``json.dumps`` as it stands (``services/cloudformation/engine/transformers.py``,
``apply_language_extensions_transform``), so ``{"username": {"Ref": "WarehouseUser"}}`` becomes
the literal text ``{"username":{"Ref":"WarehouseUser"}}`` instead of the parameter's value: the
warehouse secret would hold that text. Here the argument's intrinsics (parameter and
pseudo-parameter ``Ref``s, ``Fn::Sub``, ...) are resolved first, as AWS does, then the
transform runs as before.

Resources whose Condition is false: 4.13.1 still evaluates their properties
(``ChangeSetModelPreproc.visit_node_resource``), so on an update or a delete of a stack where
one such resource has ``!GetAtt`` on another (TrailBucketPolicy -> TrailBucket.Arn, both left
out of the stage ``local``), DescribeChangeSet fails with "Template format error: Unresolved
resource dependencies [TrailBucket]". Upstream fixed it after 4.13.1 (localstack/localstack
#13664, "skip properties of conditional resources with false conditions"); here, a resource
that exists neither before nor after the change set is not evaluated at all.

A state machine updated in place loses its ``Name`` attribute: 4.13.1's
``StepFunctionsStateMachineProvider.update`` carries ``Arn`` over from the previous state but
not ``Name``, which only ``create`` sets (``resource_providers/aws_stepfunctions_statemachine.py``;
the same in 2026.3.0). A stack whose definition changes then has an output ``!GetAtt
<machine>.Name`` without a value. AWS documents ``Name`` among the attributes ``Fn::GetAtt``
returns for ``AWS::StepFunctions::StateMachine``, and an update that changes no name replaces
nothing, so the name is the one it had: here it is carried over as ``Arn`` is.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from flightpipe_localstack.patching import expect_digest, replace

LOG = logging.getLogger(__name__)

TO_JSON_PATCH = "flightpipe.cfn_to_json_string"
CONDITIONED_PATCH = "flightpipe.cfn_skip_conditioned_out"
STATE_MACHINE_NAME_PATCH = "flightpipe.cfn_state_machine_update_name"
# source_digest of the update method the patch was written against (4.13.1).
STATE_MACHINE_UPDATE_DIGEST = "c6fad51a26c7"


def _contains_intrinsic(value: Any) -> bool:
    if isinstance(value, dict):
        if any(key == "Ref" or key.startswith("Fn::") for key in value):
            return True
        return any(_contains_intrinsic(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_intrinsic(v) for v in value)
    return False


def install_to_json_string() -> bool:
    from localstack.services.cloudformation.engine.v2 import change_set_model_transform as module
    from localstack.utils.objects import recurse_object

    original = module.apply_language_extensions_transform

    def apply_language_extensions_transform(template, resolve_context):
        def resolve(obj, path=None, **_):
            if isinstance(obj, dict) and "Fn::ToJsonString" in obj:
                argument = obj["Fn::ToJsonString"]
                if _contains_intrinsic(argument):
                    resolved = resolve_context.resolve(argument)
                    if _contains_intrinsic(resolved):  # e.g. a resource's Ref: not known yet
                        LOG.warning("Fn::ToJsonString: unresolved intrinsics left in %s", argument)
                    return {"Fn::ToJsonString": resolved}
            return obj

        return original(recurse_object(template, resolve), resolve_context)

    def expect(current: Any) -> str | None:
        source = inspect.getsource(current)
        return None if "Fn::ToJsonString" in source else "no longer handles Fn::ToJsonString"

    return replace(
        module,
        "apply_language_extensions_transform",
        apply_language_extensions_transform,
        TO_JSON_PATCH,
        expect,
    )


def install_skip_conditioned_out() -> bool:
    from localstack.services.cloudformation.engine.v2.change_set_model import ChangeType
    from localstack.services.cloudformation.engine.v2.change_set_model_preproc import (
        ChangeSetModelPreproc,
        Nothing,
        PreprocEntityDelta,
        is_nothing,
    )

    original = ChangeSetModelPreproc.visit_node_resource

    def visit_node_resource(self, node_resource):
        if not is_nothing(node_resource.condition_reference):
            condition = self._resolve_resource_condition_reference(
                node_resource.condition_reference
            )
            change_type = node_resource.change_type
            exists_before = (
                change_type != ChangeType.CREATED and is_nothing(condition.before)
            ) or bool(condition.before)
            exists_after = (
                change_type != ChangeType.REMOVED and is_nothing(condition.after)
            ) or bool(condition.after)
            if not exists_before and not exists_after:
                return PreprocEntityDelta(before=Nothing, after=Nothing)
        return original(self, node_resource)

    def expect(current: Any) -> str | None:
        # Upstream's fix skips the properties of such resources itself: then drop this patch.
        source = inspect.getsource(current)
        if "condition_after is False" in source or "condition_before is False" in source:
            return "skips conditioned-out resources itself now (fixed upstream?)"
        return None if "node_resource.properties" in source else "no longer visits properties"

    return replace(
        ChangeSetModelPreproc,
        "visit_node_resource",
        visit_node_resource,
        CONDITIONED_PATCH,
        expect,
    )


def install_state_machine_update_keeps_name() -> bool:
    from localstack.services.stepfunctions.resource_providers.aws_stepfunctions_statemachine import (  # noqa: E501
        StepFunctionsStateMachineProvider,
    )

    original = StepFunctionsStateMachineProvider.update

    def update(self, request):
        event = original(self, request)
        model = event.resource_model
        if model is not None and not model.get("Name"):
            model["Name"] = request.previous_state.get("Name")
        return event

    return replace(
        StepFunctionsStateMachineProvider,
        "update",
        update,
        STATE_MACHINE_NAME_PATCH,
        expect_digest(STATE_MACHINE_UPDATE_DIGEST),
    )
