"""A local AWS Glue runtime: runs ``glue_job/`` scripts on plain PySpark, without Glue's jars.

AWS's ``awsglue`` library is a thin Python layer over Glue's JVM classes and does not run
outside Glue or its container. ``shim/awsglue`` re-implements, with AWS's module paths and
signatures, the part of it Glue scripts here use; the work behind it is real: catalog tables and
partitions are resolved through the Glue API (boto3, so any endpoint), their objects are read
from S3, and JDBC writes go through the project's warehouse interface as Glue's writer for the
connection's vendor does them (``jdbc``).

The shim is put on ``sys.path`` only by ``runner`` when a job runs locally; it is never packaged
for Glue, where the real ``awsglue`` is already present.
"""

from pathlib import Path

SHIM_PATH = Path(__file__).resolve().parent / "shim"
