"""`make run` listens where only this machine can reach it, unless told otherwise (--insecure-remote):
whoever reaches the local platform can mint tokens with moto's public key."""

from __future__ import annotations

import socket

import pytest
import requests

from tests.api import HttpApi, sign_up
from tests.local_platform import RunningPlatform, refused_start

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", ""])  # noqa: S104 - the addresses refused here
def test_a_host_other_machines_can_reach_is_refused_with_the_reason(host: str) -> None:
    ports = [_free_port(), _free_port()]
    result = refused_start("--host", host, "--port", str(ports[0]), "--aws-port", str(ports[1]))
    assert result.returncode == 2
    assert "is not a loopback address" in result.stderr
    assert "moto's key, which is public" in result.stderr
    assert "--insecure-remote" in result.stderr
    assert "Traceback" not in result.stderr
    assert "API" not in result.stdout
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


@pytest.mark.parametrize("host", ["::1", "localhost", "127.0.0.2"])
def test_a_loopback_host_starts_and_serves(host: str) -> None:
    running = RunningPlatform("--host", host)
    try:
        assert requests.get(f"{running.api_url}/health", timeout=10).status_code == 200
        # A token is verified against the local AWS's keys, fetched from the same host.
        admin = sign_up(HttpApi(running.api_url))
        assert HttpApi(running.api_url).call("GET", "/me", token=admin.id_token).status == 200
        assert not [line for line in running.lines if "WARNING" in line]
    finally:
        assert running.stop() == 0


def test_with_insecure_remote_it_starts_on_every_interface_and_warns() -> None:
    running = RunningPlatform("--host", "0.0.0.0", "--insecure-remote")  # noqa: S104 - what is tested
    try:
        [warning] = [line for line in running.lines if line.startswith("WARNING")]
        assert "reachable from other machines" in warning
        assert "moto's key, which is public" in warning
        assert requests.get(f"{running.api_url}/health", timeout=10).status_code == 200
    finally:
        assert running.stop() == 0
