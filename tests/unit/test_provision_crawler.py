"""Provisioning applies the crawler's RecrawlPolicy and SchemaChangePolicy, or refuses them."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import boto3
import pytest

from flightpipe.infra import TemplateError
from flightpipe.stack import provision
from flightpipe.stack.template import local_stack

pytestmark = pytest.mark.unit


def with_crawler(**changes: Any) -> Any:
    stack = local_stack()
    template = copy.deepcopy(dict(stack.template))
    template["Resources"]["Crawler"]["Properties"].update(changes)
    return replace(stack, template=template)


@pytest.mark.parametrize(
    ("changes", "refused"),
    [
        (
            {
                "SchemaChangePolicy": {
                    "UpdateBehavior": "LOG",
                    "DeleteBehavior": "DELETE_FROM_DATABASE",
                }
            },
            "applies DeleteBehavior LOG only, not DELETE_FROM_DATABASE",
        ),
        ({"SchemaChangePolicy": {"UpdateBehavior": "LOG"}}, "not DEPRECATE_IN_DATABASE"),
        (
            {"RecrawlPolicy": {"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY", "Other": "x"}},
            r"Crawler\.RecrawlPolicy: the local stack does not apply \['Other'\]",
        ),
        ({"Configuration": "{}"}, r"does not apply \['Configuration'\]"),
    ],
)
def test_what_the_local_crawler_cannot_do_is_refused_before_anything_is_created(changes, refused):
    with pytest.raises(TemplateError, match=refused):
        # No client is made: the refusal comes before any call.
        run = provision._Run(boto3.session.Session(region_name="us-east-1"), None, "us-east-1")
        provision._crawler(run, with_crawler(**changes), "Crawler")
    assert not run._clients
