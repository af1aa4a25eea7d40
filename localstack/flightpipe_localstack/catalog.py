"""LocalStack's service catalog without its download (4.13.1).

CloudFormation asks a catalog whether each resource type of a template is supported
(``services/cloudformation/engine/v2/change_set_resource_support_checker.py``). The catalog
(``utils/catalog/plugins.py``: ``get_aws_catalog``, created once) is built from a document
downloaded from ``api.localstack.cloud`` at the first use; offline that fails, the fallback
answers "unknown" for every type, and with ``CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES=0`` (set so
that an unsupported type is reported, never skipped) every resource, S3 buckets included, is
refused as unsupported.

``install`` gives ``get_aws_catalog`` LocalStack's own catalog class built from an empty
document instead of a downloaded one: a type is supported when a resource provider for it is
installed (LocalStack's, or this package's Glue providers), and refused, naming it, otherwise.
Nothing is downloaded.
"""

from __future__ import annotations

import inspect

from flightpipe_localstack.patching import PatchError

PATCH_ID = "flightpipe.catalog"


class _NoDownload:
    """A ``RemoteCatalogLoader`` that answers an empty catalog of this LocalStack version."""

    def get_remote_catalog(self):
        from localstack.utils.catalog.common import AwsRemoteCatalog
        from localstack.version import __version__

        return AwsRemoteCatalog(
            schema_version="v1",
            localstack={"version": __version__},
            services={},
            cloudformation_resources={"community": {}, "pro": {}},
        )


def install() -> bool:
    from localstack.utils.catalog import catalog, plugins

    factory = plugins.get_aws_catalog
    instance = inspect.getclosurevars(factory).nonlocals.get("instance")
    if instance is None or not hasattr(instance, "set"):
        raise PatchError(f"[{PATCH_ID}] get_aws_catalog is no longer a singleton_factory")
    current = instance.get() if instance.is_set() else None
    if getattr(current, "__flightpipe_patch__", None) == PATCH_ID:
        return False
    made = catalog.AwsCatalogRemoteStatePlugin(remote_catalog_loader=_NoDownload())
    made.__flightpipe_patch__ = PATCH_ID
    instance.set(made)
    return True
