"""The local gateway's verifier follows the pool's key rotation: an unknown key id refetches the JWKS."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.settings import Settings, load_settings
from localplatform.gateway import IdTokenVerifier


class JwksServer:
    """Serves a JWKS whose keys the test changes, and counts the fetches."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                served.fetches += 1
                body = json.dumps({"keys": served.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None  # quiet

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/.well-known/jwks.json"

    def publish(self, key: rsa.RSAPrivateKey, kid: str) -> None:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        self.keys.append(public | {"kid": kid, "alg": "RS256", "use": "sig"})

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    server = JwksServer()
    try:
        yield server
    finally:
        server.stop()


def _settings(jwks_url: str) -> Settings:
    return load_settings().model_copy(update={"jwks_url": jwks_url})


def _token(settings: Settings, key: rsa.RSAPrivateKey, kid: str) -> str:
    now = int(time.time())
    claims = {
        "sub": "5b1c1f3e-0000-4000-8000-000000000001",
        "iss": settings.issuer,
        "aud": settings.user_pool_client_id,
        "token_use": "id",
        "iat": now,
        "exp": now + 600,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_a_token_signed_with_a_rotated_in_key_is_accepted(jwks: JwksServer) -> None:
    settings = _settings(jwks.url)
    old, new = _new_key(), _new_key()
    jwks.publish(old, "old")
    verifier = IdTokenVerifier(settings, refetch_cooldown_seconds=0)
    assert verifier.claims(_token(settings, old, "old"))["token_use"] == "id"
    assert verifier.claims("Bearer " + _token(settings, old, "old"))["sub"].startswith("5b1c")
    fetched = jwks.fetches

    jwks.publish(new, "new")  # the pool rotates: a new key id appears
    assert verifier.claims(_token(settings, new, "new"))["token_use"] == "id"
    assert jwks.fetches == fetched + 1  # fetched again for the unknown key id, once


def test_a_key_id_the_pool_never_published_is_refused(jwks: JwksServer) -> None:
    settings = _settings(jwks.url)
    published, stranger = _new_key(), _new_key()
    jwks.publish(published, "published")
    verifier = IdTokenVerifier(settings, refetch_cooldown_seconds=0)
    with pytest.raises(jwt.PyJWTError):
        verifier.claims(_token(settings, stranger, "stranger"))
    with pytest.raises(jwt.PyJWTError):  # a known key id does not make another key's signature good
        verifier.claims(_token(settings, stranger, "published"))


def test_forged_key_ids_refetch_the_keys_at_most_once_per_cooldown(jwks: JwksServer) -> None:
    settings = _settings(jwks.url)
    published, stranger = _new_key(), _new_key()
    jwks.publish(published, "published")
    verifier = IdTokenVerifier(settings)  # the default cooldown
    verifier.claims(_token(settings, published, "published"))
    for n in range(20):
        with pytest.raises(jwt.PyJWTError):
            verifier.claims(_token(settings, stranger, f"forged-{n}"))
    assert jwks.fetches == 1
