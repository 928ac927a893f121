"""JSON logs, EMF metrics and X-Ray tracing, set up once for every handler."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

SERVICE = "sdp"
METRICS_NAMESPACE = "ServerlessDataPlatform"

# Chalice logs through logging.getLogger(app_name); the same name makes its records JSON too.
logger = Logger(service=SERVICE)

__all__ = ["MetricUnit", "logger", "metrics", "trace_botocore", "traced", "tracing_enabled"]
Annotation = str | int | bool


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
# The annotations of the subsegments a piece of work is inside: a nested one carries them too.
_annotations: ContextVar[dict[str, Annotation]] = ContextVar("trace_annotations", default={})  # noqa: B039 - never mutated


@cache
def _recorder() -> Any:
    """X-Ray's recorder, loaded and configured once (where tracing is on)."""
    from aws_xray_sdk.core import xray_recorder

    xray_recorder.configure(service=SERVICE, context_missing="LOG_ERROR")
    return xray_recorder


def _ignored(**_: Annotation) -> None:
    """Annotating where nothing is traced."""


@contextmanager
def traced(name: str, **annotations: Annotation) -> Iterator[Callable[..., None]]:
    """An X-Ray subsegment around one piece of work, annotated (X-Ray searches annotations:
    `annotation.file_id = "…"`) with these and those of the subsegments it is inside. Yields
    `annotate(**more)` for what is learnt meanwhile. Where tracing is off (locally, in tests)
    nothing is loaded or recorded."""
    if not tracing_enabled():
        yield _ignored
        return
    inherited = _annotations.get() | annotations
    token = _annotations.set(inherited)
    try:
        with _recorder().in_subsegment(name) as subsegment:

            def annotate(**more: Annotation) -> None:
                _annotations.set(_annotations.get() | more)
                if subsegment is not None:  # None: no segment to add to (context_missing logs it)
                    for key, value in more.items():
                        subsegment.put_annotation(key, value)

            annotate(**inherited)
            yield annotate
    finally:
        _annotations.reset(token)


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
        from aws_xray_sdk.core import patch

        _recorder()
        patch(["botocore"])
        _botocore_patched = True
