"""The Glue jobs' own package, shipped to Glue as one archive (``flightjob.zip``, the jobs'
``--extra-py-files``) beside the job scripts in glue_job/.

``lines``, ``flights`` and ``airports`` are pure DataFrame functions (no ``awsglue``, no I/O:
they run on any SparkSession and are tested on tiny frames); ``aws_io`` is the jobs' calls to
S3, the Glue catalog and Glue's job runs; ``warehouse`` loads the warehouse.
"""
