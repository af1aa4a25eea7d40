"""Local stand-in for AWS Glue's ``awsglue`` package (see ``flightpipe.gluelocal``)."""

from awsglue.dynamicframe import DynamicFrame

__all__ = ["DynamicFrame"]
