from __future__ import annotations

import os

import pytest

from chalicelib.settings import Settings, SettingsError, get_settings, load_settings
from tests.conftest import ROOT


def test_reads_every_setting_from_the_environment() -> None:
    settings = load_settings()
    assert settings.stage == "local"
    assert settings.table_name == "sdp-test"
    assert settings.ingest_dlq_name == "sdp-test-ingest-dlq"
    assert settings.max_direct_upload_bytes == 5 * 1024 * 1024


def test_reads_the_environment_as_it_is_when_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """chalice's test client replaces `os.environ` itself during a request: the settings must
    read whichever object is there when they load, not the one there at import."""
    monkeypatch.setattr(os, "environ", {**os.environ, "SDP_QUOTA_FILES": "7", "sdp_table_name": "sdp-other"})
    settings = load_settings()
    assert (settings.quota_files, settings.table_name) == (7, "sdp-other")


def test_a_tenant_session_is_renewed_in_time_for_the_longest_url_or_a_whole_ingest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SDP_UPLOAD_URL_SECONDS", "60")
    monkeypatch.setenv("SDP_DOWNLOAD_URL_SECONDS", "60")
    assert load_settings().tenant_session_reserve_seconds == 960 + 300  # the ingest lease, not the URLs
    monkeypatch.setenv("SDP_UPLOAD_URL_SECONDS", "2700")
    assert load_settings().tenant_session_reserve_seconds == 2700 + 300


@pytest.mark.parametrize(("cores", "workers"), [(1, 4), (2, 4), (4, 4), (12, 12), (None, 4)])
def test_the_local_pump_has_a_worker_per_core_and_at_least_four(
    monkeypatch: pytest.MonkeyPatch, cores: int | None, workers: int
) -> None:
    monkeypatch.delenv("SDP_INGEST_WORKERS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert load_settings().ingest_workers == workers
    monkeypatch.setenv("SDP_INGEST_WORKERS", "2")
    assert load_settings().ingest_workers == 2


def test_is_read_once_per_container() -> None:
    assert get_settings() is get_settings()


def test_a_missing_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SDP_TABLE_NAME")
    with pytest.raises(SettingsError, match="SDP_TABLE_NAME: Field required"):
        load_settings()


def test_every_invalid_setting_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDP_STAGE", "qa")
    monkeypatch.setenv("SDP_JWKS_URL", "file:///etc/passwd")
    monkeypatch.setenv("SDP_MAX_DIRECT_UPLOAD_BYTES", "-1")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "SDP_STAGE" in message
    assert "SDP_JWKS_URL" in message
    assert "SDP_MAX_DIRECT_UPLOAD_BYTES" in message


def test_settings_cannot_be_changed_after_loading() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.table_name = "other"  # type: ignore[misc]


def test_the_model_has_no_setting_the_local_platform_does_not_provide() -> None:
    from localplatform.resources import LocalQueue, LocalResources

    queue = LocalQueue(name="q", url="http://x/q", arn="arn:aws:sqs:us-east-1:1:q")
    resources = LocalResources(
        table="t-1",
        data_bucket="b-1",
        results_bucket="r-1",
        ingest_queue=queue,
        ingest_dlq=queue,
        user_pool_id="p",
        user_pool_client_id="c",
        kms_key_id="k",
        pagination_secret_id="s",
        tenant_role_arn="arn:aws:iam::123456789012:role/r",
    )
    provided = set(resources.settings_environment("http://127.0.0.1:5000"))
    assert _required_settings() <= provided


def test_the_template_gives_the_functions_every_required_setting() -> None:
    import json

    from localplatform.template import load_template

    from_template = set(load_template()["Globals"]["Function"]["Environment"]["Variables"])
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    for stage in ("dev", "stage", "prod"):
        from_config = set(config["stages"][stage]["environment_variables"])
        assert _required_settings() <= from_template | from_config, stage


def _required_settings() -> set[str]:
    return {f"SDP_{name.upper()}" for name, field in Settings.model_fields.items() if field.is_required()}


def test_in_lambda_an_invalid_setting_fails_the_cold_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.application import PlatformApp

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "sdp-dev-APIHandler")
    monkeypatch.delenv("SDP_RESULTS_BUCKET")
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError, match="SDP_RESULTS_BUCKET"):
            PlatformApp("probe")
    finally:
        get_settings.cache_clear()


def test_outside_lambda_the_app_loads_without_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.application import PlatformApp

    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    monkeypatch.delenv("SDP_RESULTS_BUCKET")  # as when `chalice package` loads the app
    get_settings.cache_clear()
    try:
        assert PlatformApp("probe").app_name == "probe"
    finally:
        get_settings.cache_clear()
