"""Speed: LocalStack 4.13.1's Step Functions interpreter parses a JSONPath each time a state
evaluates it, and each parse builds a PLY lexer and parser (jsonpath_ng; the cost is in
docs/performance.md). ``json_path.extract_json`` (every ``.$`` parameter, Choice variable,
InputPath, OutputPath and intrinsic argument) and ``ResultPath._eval_body`` both call
jsonpath_ng's ``parse`` with the path text of the definition. One poll of the crawler
(``WaitForCrawler`` -> ``GetCrawler`` -> ``CountPoll`` -> ``CrawlerFinished``) evaluates about a
dozen paths, and in a burst twenty-nine executions poll at once, enough to keep LocalStack's
interpreter on one core while the crawl they wait for needs LocalStack's S3.

The fix memoises ``parse`` in those two modules (the names they imported): a parsed path is a
tree that ``find`` and ``update_or_create`` read without changing (they change the data), so
one tree serves every evaluation of the same text, in any thread. The paths come from the
deployed definitions, so the cache is bounded by ``MAXSIZE`` only as a guard. What a path
means is unchanged; only how often it is parsed.
"""

from __future__ import annotations

import functools
from typing import Any

from flightpipe_localstack.patching import replace

PATCH_ID = "flightpipe.sfn_jsonpath_cache"
MAXSIZE = 4096


def patched_modules() -> dict[Any, Any]:
    """Each patched module with the jsonpath_ng ``parse`` it must hold now."""
    import jsonpath_ng
    import jsonpath_ng.ext
    from localstack.services.stepfunctions.asl.component.common.path import result_path
    from localstack.services.stepfunctions.asl.utils import json_path

    return {json_path: jsonpath_ng.ext.parse, result_path: jsonpath_ng.parse}


def install() -> bool:
    """Memoise ``parse`` where the interpreter calls it; False when already done."""
    changed = False
    for module, original in patched_modules().items():

        def expect(current: Any, original: Any = original) -> str | None:
            return None if current is original else f"{current!r} is not jsonpath_ng's parse"

        cached = functools.lru_cache(maxsize=MAXSIZE)(original)
        changed |= replace(module, "parse", cached, PATCH_ID, expect)
    return changed
