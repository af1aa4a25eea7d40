"""CloudFormation resource providers for AWS::Glue::Database, Crawler, Job and Connection.

LocalStack community 4.13.1 has no Glue, so it has no providers for these types either. These
follow LocalStack's own pattern (e.g. ``localstack/services/sns/resource_providers/
aws_sns_topic.py`` with ``aws_sns_topic_plugin.py``): a ``ResourceProvider`` subclass with a
``SCHEMA`` (the engine reads ``primaryIdentifier`` for the physical id, which is what ``Ref``
returns, and ``createOnlyProperties`` to decide on replacement) and ``create``/``update``/
``delete`` handlers that call the service through ``request.aws_client_factory`` (LocalStack's
internal boto3 clients, which reach whichever ``glue`` service provider is loaded); and a
``CloudFormationResourceProviderPlugin`` subclass named after the type, registered in the
entry-point namespace ``localstack.cloudformation.resource_providers``.

Ref values, as AWS documents them (CloudFormation Template Reference, "Return values"):
Database -> the database name, Crawler -> the crawler name, Job -> the job name,
Connection -> the connection name. None of the four has Fn::GetAtt attributes in use here.

The schemas below are trimmed from the CloudFormation registry schemas (the copies shipped
in cfn-lint, ``cfnlint/data/schemas``), with one deliberate difference: the registry gives
AWS::Glue::Connection the primary identifier ``[CatalogId, Name]``, which LocalStack would join
into ``<account>-<name>``; AWS documents ``Ref`` of a connection as its name, so the primary
identifier here is ``/properties/Name`` alone.
"""

from __future__ import annotations

import uuid
from typing import Any, TypedDict

from localstack.services.cloudformation.resource_provider import (
    CloudFormationResourceProviderPlugin,
    OperationStatus,
    ProgressEvent,
    ResourceProvider,
    ResourceRequest,
)

# --- helpers --------------------------------------------------------------------------------


def _default_name(request: ResourceRequest, limit: int = 255, lower: bool = False) -> str:
    """CloudFormation's generated name: <stack>-<logical id>-<random>."""
    suffix = uuid.uuid4().hex[:12].upper()
    name = f"{request.stack_name}-{request.logical_resource_id}-{suffix}"[:limit]
    return name.lower() if lower else name


def _not_found(error: Exception) -> bool:
    code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
    return code == "EntityNotFoundException"


def _success(request: ResourceRequest, model: dict[str, Any]) -> ProgressEvent:
    return ProgressEvent(
        status=OperationStatus.SUCCESS, resource_model=model, custom_context=request.custom_context
    )


def _pick(model: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: model[key] for key in keys if model.get(key) is not None}


def _tags_map(tags: Any) -> dict[str, str] | None:
    """CloudFormation writes Glue tags as a JSON object (Job, Crawler) or a Tag list
    (Connection)."""
    if not tags:
        return None
    if isinstance(tags, list):
        return {str(tag["Key"]): str(tag["Value"]) for tag in tags}
    return {str(key): str(value) for key, value in dict(tags).items()}


def _schema(type_name: str, primary: str, properties: tuple[str, ...], **extra: Any) -> dict:
    return {
        "typeName": type_name,
        "primaryIdentifier": [f"/properties/{primary}"],
        "properties": {name: {} for name in properties},
        "additionalProperties": False,
        **extra,
    }


# --- AWS::Glue::Database --------------------------------------------------------------------


class GlueDatabaseProperties(TypedDict, total=False):
    CatalogId: str
    DatabaseInput: dict[str, Any]
    DatabaseName: str  # the primary identifier: Ref returns it


class GlueDatabaseProvider(ResourceProvider[GlueDatabaseProperties]):
    TYPE = "AWS::Glue::Database"
    SCHEMA = _schema(
        TYPE,
        "DatabaseName",
        ("CatalogId", "DatabaseInput", "DatabaseName"),
        required=["DatabaseInput", "CatalogId"],
        createOnlyProperties=["/properties/DatabaseName"],
    )

    @staticmethod
    def _name(model: GlueDatabaseProperties) -> str | None:
        return (model.get("DatabaseInput") or {}).get("Name") or model.get("DatabaseName")

    def create(self, request: ResourceRequest[GlueDatabaseProperties]) -> ProgressEvent:
        model = request.desired_state
        glue = request.aws_client_factory.glue
        name = self._name(model) or _default_name(request, lower=True)  # Glue lower-cases names
        database_input = {**(model.get("DatabaseInput") or {}), "Name": name}
        glue.create_database(CatalogId=model["CatalogId"], DatabaseInput=database_input)
        model["DatabaseName"] = name
        return _success(request, model)

    def read(self, request: ResourceRequest[GlueDatabaseProperties]) -> ProgressEvent:
        model = request.desired_state
        database = request.aws_client_factory.glue.get_database(
            CatalogId=model["CatalogId"], Name=model["DatabaseName"]
        )["Database"]
        return _success(request, {**model, "DatabaseInput": database})

    def update(self, request: ResourceRequest[GlueDatabaseProperties]) -> ProgressEvent:
        model, previous = request.desired_state, request.previous_state or {}
        glue = request.aws_client_factory.glue
        old_name = previous.get("DatabaseName") or self._name(previous)
        new_name = self._name(model) or old_name
        if new_name != old_name:  # a renamed database is a new one (Glue cannot rename)
            event = self.create(request)
            glue.delete_database(CatalogId=previous["CatalogId"], Name=old_name)
            return event
        database_input = {**(model.get("DatabaseInput") or {}), "Name": new_name}
        glue.update_database(
            CatalogId=model["CatalogId"], Name=new_name, DatabaseInput=database_input
        )
        model["DatabaseName"] = new_name
        return _success(request, model)

    def delete(self, request: ResourceRequest[GlueDatabaseProperties]) -> ProgressEvent:
        model = request.desired_state
        try:
            request.aws_client_factory.glue.delete_database(
                CatalogId=model["CatalogId"], Name=model["DatabaseName"]
            )
        except Exception as error:
            if not _not_found(error):
                raise
        return _success(request, {})


class GlueDatabaseProviderPlugin(CloudFormationResourceProviderPlugin):
    name = "AWS::Glue::Database"

    def __init__(self):
        self.factory: type[ResourceProvider] | None = None

    def load(self):
        self.factory = GlueDatabaseProvider


# --- AWS::Glue::Crawler ---------------------------------------------------------------------

CRAWLER_FIELDS = (
    "Name",
    "Role",
    "DatabaseName",
    "Description",
    "Targets",
    "Classifiers",
    "TablePrefix",
    "SchemaChangePolicy",
    "RecrawlPolicy",
    "Configuration",
    "CrawlerSecurityConfiguration",
    "LakeFormationConfiguration",
)


class GlueCrawlerProperties(TypedDict, total=False):
    Name: str
    Role: str
    DatabaseName: str
    Description: str
    Targets: dict[str, Any]
    Classifiers: list[str]
    TablePrefix: str
    Schedule: dict[str, str]
    SchemaChangePolicy: dict[str, str]
    RecrawlPolicy: dict[str, str]
    Configuration: str
    CrawlerSecurityConfiguration: str
    LakeFormationConfiguration: dict[str, Any]
    Tags: dict[str, str]


def _crawler_definition(model: GlueCrawlerProperties) -> dict[str, Any]:
    definition = _pick(dict(model), CRAWLER_FIELDS)
    schedule = (model.get("Schedule") or {}).get("ScheduleExpression")
    if schedule:
        definition["Schedule"] = schedule  # CloudFormation {ScheduleExpression}, API a string
    return definition


class GlueCrawlerProvider(ResourceProvider[GlueCrawlerProperties]):
    TYPE = "AWS::Glue::Crawler"
    SCHEMA = _schema(
        TYPE,
        "Name",
        (*CRAWLER_FIELDS, "Schedule", "Tags"),
        required=["Role", "Targets"],
        createOnlyProperties=["/properties/Name"],
    )

    def create(self, request: ResourceRequest[GlueCrawlerProperties]) -> ProgressEvent:
        model = request.desired_state
        if not model.get("Name"):
            model["Name"] = _default_name(request)
        definition = _crawler_definition(model)
        if tags := _tags_map(model.get("Tags")):
            definition["Tags"] = tags
        request.aws_client_factory.glue.create_crawler(**definition)
        return _success(request, model)

    def read(self, request: ResourceRequest[GlueCrawlerProperties]) -> ProgressEvent:
        crawler = request.aws_client_factory.glue.get_crawler(Name=request.desired_state["Name"])
        return _success(request, _pick(crawler["Crawler"], CRAWLER_FIELDS))

    def update(self, request: ResourceRequest[GlueCrawlerProperties]) -> ProgressEvent:
        # Name is create-only: a new name makes the engine replace the crawler (create, delete).
        model = request.desired_state
        model["Name"] = model.get("Name") or (request.previous_state or {})["Name"]
        request.aws_client_factory.glue.update_crawler(**_crawler_definition(model))
        return _success(request, model)

    def delete(self, request: ResourceRequest[GlueCrawlerProperties]) -> ProgressEvent:
        try:
            request.aws_client_factory.glue.delete_crawler(Name=request.desired_state["Name"])
        except Exception as error:
            if not _not_found(error):
                raise
        return _success(request, {})


class GlueCrawlerProviderPlugin(CloudFormationResourceProviderPlugin):
    name = "AWS::Glue::Crawler"

    def __init__(self):
        self.factory: type[ResourceProvider] | None = None

    def load(self):
        self.factory = GlueCrawlerProvider


# --- AWS::Glue::Job -------------------------------------------------------------------------

JOB_FIELDS = (
    "Description",
    "LogUri",
    "Role",
    "ExecutionProperty",
    "Command",
    "DefaultArguments",
    "NonOverridableArguments",
    "Connections",
    "MaxRetries",
    "AllocatedCapacity",
    "Timeout",
    "MaxCapacity",
    "SecurityConfiguration",
    "NotificationProperty",
    "GlueVersion",
    "NumberOfWorkers",
    "WorkerType",
    "ExecutionClass",
    "JobMode",
    "JobRunQueuingEnabled",
    "MaintenanceWindow",
)


class GlueJobProperties(TypedDict, total=False):
    Name: str
    Role: str
    Command: dict[str, Any]
    DefaultArguments: dict[str, str]
    Connections: dict[str, list[str]]
    Tags: dict[str, str]
    # ... and the rest of JOB_FIELDS, passed to CreateJob/UpdateJob as they are


class GlueJobProvider(ResourceProvider[GlueJobProperties]):
    TYPE = "AWS::Glue::Job"
    SCHEMA = _schema(
        TYPE,
        "Name",
        ("Name", *JOB_FIELDS, "Tags"),
        required=["Role", "Command"],
        createOnlyProperties=["/properties/Name"],
    )

    def create(self, request: ResourceRequest[GlueJobProperties]) -> ProgressEvent:
        model = request.desired_state
        if not model.get("Name"):
            model["Name"] = _default_name(request)
        definition = _pick(dict(model), JOB_FIELDS)
        if tags := _tags_map(model.get("Tags")):
            definition["Tags"] = tags
        request.aws_client_factory.glue.create_job(Name=model["Name"], **definition)
        return _success(request, model)

    def read(self, request: ResourceRequest[GlueJobProperties]) -> ProgressEvent:
        job = request.aws_client_factory.glue.get_job(JobName=request.desired_state["Name"])["Job"]
        return _success(request, {"Name": job["Name"], **_pick(job, JOB_FIELDS)})

    def update(self, request: ResourceRequest[GlueJobProperties]) -> ProgressEvent:
        # UpdateJob replaces the whole definition, as a CloudFormation update does.
        model = request.desired_state
        model["Name"] = model.get("Name") or (request.previous_state or {})["Name"]
        request.aws_client_factory.glue.update_job(
            JobName=model["Name"], JobUpdate=_pick(dict(model), JOB_FIELDS)
        )
        return _success(request, model)

    def delete(self, request: ResourceRequest[GlueJobProperties]) -> ProgressEvent:
        request.aws_client_factory.glue.delete_job(JobName=request.desired_state["Name"])
        return _success(request, {})  # DeleteJob succeeds for a job that does not exist


class GlueJobProviderPlugin(CloudFormationResourceProviderPlugin):
    name = "AWS::Glue::Job"

    def __init__(self):
        self.factory: type[ResourceProvider] | None = None

    def load(self):
        self.factory = GlueJobProvider


# --- AWS::Glue::Connection ------------------------------------------------------------------


class GlueConnectionProperties(TypedDict, total=False):
    CatalogId: str
    ConnectionInput: dict[str, Any]
    Tags: list[dict[str, str]]
    Name: str  # read-only; the primary identifier here: Ref returns it


class GlueConnectionProvider(ResourceProvider[GlueConnectionProperties]):
    TYPE = "AWS::Glue::Connection"
    SCHEMA = _schema(
        TYPE,
        "Name",
        ("CatalogId", "ConnectionInput", "Tags", "Name"),
        required=["ConnectionInput", "CatalogId"],
        readOnlyProperties=["/properties/Name"],
        createOnlyProperties=["/properties/CatalogId", "/properties/ConnectionInput/Name"],
    )

    def create(self, request: ResourceRequest[GlueConnectionProperties]) -> ProgressEvent:
        model = request.desired_state
        name = (model.get("ConnectionInput") or {}).get("Name") or _default_name(request)
        connection_input = {**model["ConnectionInput"], "Name": name}
        extra = {"Tags": tags} if (tags := _tags_map(model.get("Tags"))) else {}
        request.aws_client_factory.glue.create_connection(
            CatalogId=model["CatalogId"], ConnectionInput=connection_input, **extra
        )
        model["Name"] = name
        return _success(request, model)

    def read(self, request: ResourceRequest[GlueConnectionProperties]) -> ProgressEvent:
        model = request.desired_state
        connection = request.aws_client_factory.glue.get_connection(
            CatalogId=model["CatalogId"], Name=model["Name"], HidePassword=True
        )["Connection"]
        return _success(request, {**model, "ConnectionInput": connection})

    def update(self, request: ResourceRequest[GlueConnectionProperties]) -> ProgressEvent:
        model, previous = request.desired_state, request.previous_state or {}
        glue = request.aws_client_factory.glue
        old_name = previous.get("Name")
        new_name = (model.get("ConnectionInput") or {}).get("Name") or old_name
        if new_name != old_name:
            # ConnectionInput/Name is create-only, but the engine only replaces on top-level
            # properties: replace here (create the new one, then delete the old one).
            event = self.create(request)
            glue.delete_connection(CatalogId=previous["CatalogId"], ConnectionName=old_name)
            return event
        glue.update_connection(
            CatalogId=model["CatalogId"],
            Name=new_name,
            ConnectionInput={**model["ConnectionInput"], "Name": new_name},
        )
        model["Name"] = new_name
        return _success(request, model)

    def delete(self, request: ResourceRequest[GlueConnectionProperties]) -> ProgressEvent:
        model = request.desired_state
        try:
            request.aws_client_factory.glue.delete_connection(
                CatalogId=model["CatalogId"], ConnectionName=model["Name"]
            )
        except Exception as error:
            if not _not_found(error):
                raise
        return _success(request, {})


class GlueConnectionProviderPlugin(CloudFormationResourceProviderPlugin):
    name = "AWS::Glue::Connection"

    def __init__(self):
        self.factory: type[ResourceProvider] | None = None

    def load(self):
        self.factory = GlueConnectionProvider
