"""Where AWS's ``awsglue`` hands values to Glue's JVM classes, the local runtime checks them the
same way, so that a job refused by AWS Glue is refused here, in the same words.

AWS's library (package AWSGlueDataplanePython 5.0.0) is a thin layer over Scala: strings go
through py4j to ``String`` parameters, ``Job.init``'s dict becomes a ``java.util.Map``, option
dicts become JSON (``awsglue/utils.py`` ``makeOptions``), and ``GlueContext.get_logger()`` is a
JVM object. Glue's classes are not here, so values go through the local SparkContext's py4j
gateway to real JVM methods with the same parameter types: py4j converts them exactly as it does
on Glue (PySpark's converters included) and raises its own errors. Where py4j would let through
a value that Glue's Scala signature cannot hold (type erasure, ``null``), the local side refuses
it explicitly; each such place says so.

Private to the shim (``awsglue._jvm`` is no part of AWS's package).
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Any

from py4j.protocol import Py4JError

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from pyspark import SparkContext

# The JVM logger every local GlueLogger passes its messages through; it is switched off.
JVM_LOGGER_NAME = "flightpipe.gluelocal.GlueLogger"


def _note(error: BaseException, note: str) -> None:
    error.add_note(f"awsglue (local runtime): {note}")


def _java(sc: SparkContext) -> Any:
    """The SparkContext's py4j view of the JVM."""
    if sc._jvm is None:
        raise RuntimeError("the SparkContext has no JVM (stopped?)")
    return sc._jvm


def strings(sc: SparkContext, nullable: Collection[str] = (), **values: Any) -> None:
    """Pass each value through py4j to a JVM method taking one ``java.lang.String``.

    AWS hands these values to Scala ``String`` parameters, so py4j refuses a non-str there:
    ``Py4JError`` (``Method ...([class java.lang.Integer]) does not exist``) for what it can
    convert (numbers, dates, lists), ``AttributeError`` (``... has no attribute
    '_get_object_id'``) for what it cannot. ``None`` would reach Scala as ``null``: it is
    accepted only for the names in ``nullable`` (parameters whose default is ``None`` on AWS)
    and refused otherwise, which is stricter than py4j alone.
    """
    from_string = _java(sc).org.apache.spark.unsafe.types.UTF8String.fromString
    for name, value in values.items():
        if value is None:
            if name in nullable:
                continue
            raise TypeError(
                f"{name} must be a str, not None: AWS Glue passes it to a Scala String parameter"
            )
        try:
            from_string(value)
        except (Py4JError, AttributeError) as error:
            _note(error, f"{name}={value!r}: AWS Glue passes {name} to a Scala String parameter")
            raise


def ints(sc: SparkContext, **values: Any) -> None:
    """Pass each value through py4j to a JVM method taking one ``int``, as Glue's Scala ``Int``
    parameters take them (``None`` included: py4j cannot hand ``null`` to an ``int``)."""
    to_string = _java(sc).java.lang.Integer.toString
    for name, value in values.items():
        try:
            to_string(value)
        except (Py4JError, AttributeError) as error:
            _note(error, f"{name}={value!r}: AWS Glue passes {name} to a Scala Int parameter")
            raise


def partition_hints(sc: SparkContext, options: Mapping[str, Any]) -> None:
    """``minPartitions``/``targetPartitions`` as AWS reads them from keyword options (a missing
    target is the minimum, a lone target is both) and hands them to Scala ``Int`` parameters.
    The local runtime partitions its own way; only the values are checked."""
    if "minPartitions" in options:
        minimum = options["minPartitions"]
        target = options.get("targetPartitions", minimum)
    elif "targetPartitions" in options:
        minimum = target = options["targetPartitions"]
    else:
        return
    if minimum is not None:
        ints(sc, minPartitions=minimum, targetPartitions=target)


def string_map(sc: SparkContext, name: str, mapping: Any) -> dict[str, str | None]:
    """Hand ``mapping`` to a JVM method taking a ``java.util.Map``, as AWS's ``Job.init`` hands
    its ``args`` to Glue's ``Job.init(String, SparkSession, java.util.Map[String, String])``.

    py4j converts a dict (anything with ``keys`` and ``__getitem__``) into a ``HashMap`` value
    by value, with PySpark's converters (a ``date`` becomes a ``java.sql.Date``), and raises
    ``AttributeError`` (``... has no attribute '_get_object_id'``) for a value it cannot convert;
    anything else is not a ``Map`` and the call fails (``Py4JError``). Generics are erased at
    run time, so the JVM would take an ``Integer`` or a ``Date`` in a ``Map[String, String]``;
    here a key or value that is not a str (values may be ``None``) is refused with a TypeError
    naming the key, which is stricter than py4j alone. Returns the checked contents.
    """
    if mapping is None:
        raise TypeError(
            f"{name} must be a dict of str to str, not None: "
            "AWS Glue passes it to a java.util.Map[String, String] parameter"
        )
    to_java_map = _java(sc).java.util.Collections.unmodifiableMap
    try:
        to_java_map(mapping)
    except (Py4JError, AttributeError) as error:
        _note(error, f"{name} goes to a java.util.Map[String, String] parameter on AWS Glue")
        raise
    checked: dict[str, str | None] = {}
    for key in mapping.keys():  # noqa: SIM118 -- as py4j reads a mapping: keys(), then [key]
        value = mapping[key]
        if not isinstance(key, str):
            raise TypeError(
                f"{name} key {key!r} is a {type(key).__name__}, not a str: AWS Glue passes "
                f"{name} as a java.util.Map[String, String]"
            )
        if value is not None and not isinstance(value, str):
            raise TypeError(
                f"{name}[{key!r}] is a {type(value).__name__}, not a str: AWS Glue passes "
                f"{name} as a java.util.Map[String, String]"
            )
        checked[key] = value
    return checked


def options(py_obj: Any) -> dict[str, Any]:
    """Connection or additional options as AWS's ``makeOptions`` hands them to the JVM: the
    dict through ``json.dumps`` (so a value JSON cannot hold raises json's TypeError), and what
    the JVM receives is that JSON, so the local runtime uses the dict read back from it.

    AWS's ``makeOptions`` (``awsglue/utils.py``) means to accept a JSON string too, but tests
    ``isinstance(py_obj, basestring)``, a name its module never defines on Python 3: anything
    but a dict (``None`` included) ends in ``NameError: name 'basestring' is not defined`` on
    AWS, and does here.
    """
    if not isinstance(py_obj, dict):
        error = NameError("name 'basestring' is not defined", name="basestring")
        kind = type(py_obj).__name__
        _note(error, f"options must be a dict; AWS Glue's makeOptions fails so on a {kind}")
        raise error
    loaded: dict[str, Any] = json.loads(json.dumps(py_obj))
    return loaded


class GlueLogger:
    """What ``GlueContext.get_logger()`` returns locally, in place of AWS's JVM ``GlueLogger``.

    On AWS, ``logger.info(msg)`` is a py4j call to a Scala method taking a ``String``, so a
    non-str message fails there (``Method info([class java.lang.Integer]) does not exist``).
    Here each message goes through py4j to an slf4j ``Logger`` method with the same one-argument
    ``String`` signature (its level is OFF, so the JVM prints nothing), then to Python logging
    on the logger named ``GlueLogger``. ``info``, ``warn`` and ``error`` are the methods AWS's
    documentation shows for it.
    """

    def __init__(self, sc: SparkContext):
        jvm = _java(sc)
        log4j = jvm.org.apache.logging.log4j
        log4j.core.config.Configurator.setLevel(JVM_LOGGER_NAME, log4j.Level.OFF)
        self._jvm_logger = jvm.org.slf4j.LoggerFactory.getLogger(JVM_LOGGER_NAME)
        self._log = logging.getLogger("GlueLogger")

    def _through_jvm(self, method: str, message: Any) -> None:
        log = getattr(self._jvm_logger, method)
        try:
            log(message)
        except (Py4JError, AttributeError) as error:
            _note(error, f"GlueLogger.{method} takes a String on AWS Glue, got {message!r}")
            raise

    def info(self, message: str) -> None:
        self._through_jvm("info", message)
        self._log.info(message)

    def warn(self, message: str) -> None:
        self._through_jvm("warn", message)
        self._log.warning(message)

    def error(self, message: str) -> None:
        self._through_jvm("error", message)
        self._log.error(message)


# What the stand-in Glue image's spark-defaults.conf puts in each JVM setting it holds.
IMAGE_DEFAULTS = {
    "spark.driver.extraJavaOptions": "-Dflightpipe.glue-image-defaults=kept",
    "spark.driver.extraClassPath": "/opt/spark/jars/*",
}


def image_defaults_kept(sc: SparkContext) -> None:
    """In the stand-in Glue image (``FLIGHTPIPE_GLUE_IMAGE_DEFAULTS`` names its
    spark-defaults.conf), refuse a Spark whose JVM options or class path no longer hold the
    image's values: a ``--conf`` replaced them, which on AWS's image drops what the image needs
    there. Elsewhere (the Docker-free runtime) there are no image defaults to keep."""
    defaults = os.environ.get("FLIGHTPIPE_GLUE_IMAGE_DEFAULTS")
    if not defaults:
        return
    conf = sc.getConf()
    replaced = [key for key, kept in IMAGE_DEFAULTS.items() if kept not in (conf.get(key) or "")]
    if replaced:
        raise RuntimeError(
            f"{', '.join(replaced)} no longer hold the image's values from {defaults} "
            f"({', '.join(IMAGE_DEFAULTS[key] for key in replaced)}): a --conf replaced them. "
            "AWS's Glue image keeps its own JVM options and class path there; extend them "
            "(for the time zone, set TZ) instead of passing the setting on the command line"
        )
