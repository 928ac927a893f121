"""template.yaml's properties merged into `chalice package` output hit the resources they mean."""

from __future__ import annotations

from localplatform.template import Intrinsic, load_template


def test_the_ingest_event_source_takes_the_queue_and_reports_failures_per_message() -> None:
    ingest = load_template()["Resources"]["Ingest"]["Properties"]["Events"]["IngestSqsEventSource"]["Properties"]
    assert ingest["Queue"] == Intrinsic("GetAtt", "IngestQueue.Arn")
    assert ingest["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
