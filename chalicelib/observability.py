"""JSON logs, EMF metrics and X-Ray tracing, set up once for every handler."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

SERVICE = "sdp"
METRICS_NAMESPACE = "ServerlessDataPlatform"

# Chalice logs through logging.getLogger(app_name); the same name makes its records JSON too.
logger = Logger(service=SERVICE)

__all__ = ["MetricUnit", "logger", "metrics", "trace_botocore", "tracing_enabled"]


@contextmanager
def metrics(*, per_version: bool = False, **dimensions: str) -> Iterator[EphemeralMetrics]:
    """Collect metrics for one unit of work and print them as one EMF document at the end.

    `per_version` also files them under this function version alone (dimensions `service`,
    `function_version`): what the alarms that roll a release back watch, for they must see the new
    version's figures apart from the old one's while both take traffic.

    EphemeralMetrics keeps its own metric set, so concurrent requests (the threaded local
    server) never mix their figures.
    """
    recorder = EphemeralMetrics(namespace=METRICS_NAMESPACE, service=SERVICE)
    for name, value in dimensions.items():
        recorder.add_dimension(name=name, value=value)
    if per_version:
        recorder.add_dimensions(service=SERVICE, function_version=function_version())
    try:
        yield recorder
    finally:
        if recorder.metric_set:
            recorder.flush_metrics()


def function_version() -> str:
    """The Lambda version this code runs as: a number once published, `$LATEST` before (and where
    there is no Lambda)."""
    return os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")


def tracing_enabled() -> bool:
    """X-Ray is on only where a daemon listens: Lambda with active tracing sets its address."""
    return bool(os.environ.get("AWS_XRAY_DAEMON_ADDRESS")) and os.environ.get(
        "POWERTOOLS_TRACE_DISABLED", ""
    ).lower() not in ("1", "true")


_patch_lock = threading.Lock()
_botocore_patched = False


def trace_botocore() -> None:
    """Record every AWS SDK call as an X-Ray subsegment, where tracing is on.

    aws-xray-sdk takes ~200 ms to import, so it is loaded on the first AWS client rather than
    at cold start, and never where there is no daemon to send to (locally), so nothing is noisy.
    """
    global _botocore_patched
    if _botocore_patched or not tracing_enabled():
        return
    with _patch_lock:
        if _botocore_patched:
            return
        from aws_xray_sdk.core import patch, xray_recorder

        xray_recorder.configure(service=SERVICE, context_missing="LOG_ERROR")
        patch(["botocore"])
        _botocore_patched = True
