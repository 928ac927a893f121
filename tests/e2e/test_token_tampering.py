"""Forged and misused tokens, over HTTP on the local platform: every one answers 401.

The local gateway verifies the token as API Gateway's Cognito authorizer does; the app then
checks the claims. The control case proves the minting here is right, so each 401 is earned.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import time
from importlib import resources
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.api import Account, HttpApi, sign_up
from tests.local_platform import RunningPlatform

pytestmark = pytest.mark.e2e


def _moto_signing_key() -> Any:
    """The key moto's user pools sign with (the pool's JWKS serves its public half)."""
    private_jwk = json.loads(
        gzip.decompress((resources.files("moto") / "cognitoidp/resources/jwks-private.json.gz").read_bytes())
    )
    return jwt.PyJWK(private_jwk).key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def account(running_platform: RunningPlatform) -> Account:
    return sign_up(HttpApi(running_platform.api_url), label="tamper")


@pytest.fixture(scope="module")
def claims(account: Account) -> dict[str, Any]:
    return jwt.decode(account.id_token, options={"verify_signature": False})


def _mint(claims: dict[str, Any], key: Any = None, kid: str = "dummy", **changes: Any) -> str:
    payload = {name: value for name, value in (claims | changes).items() if value is not None}
    return jwt.encode(payload, key or _moto_signing_key(), algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
def corpus(account: Account, claims: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The Authorization header (or none) of each case, made once."""
    now = int(time.time())
    header, payload, signature = account.id_token.split(".")
    flipped = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    flipped[len(flipped) // 2] ^= 0x01
    unsigned = f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT', 'kid': 'dummy'}).encode())}.{payload}."
    public_pem = (
        _moto_signing_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    hs_header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "dummy"}).encode())
    hs_signature = _b64(hmac.new(public_pem, f"{hs_header}.{payload}".encode(), hashlib.sha256).digest())
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bearer = lambda token: {"Authorization": f"Bearer {token}"}  # noqa: E731
    return {
        "no header": {},
        "empty": {"Authorization": ""},
        "bearer and nothing": {"Authorization": "Bearer "},
        "garbage": {"Authorization": "Bearer garbage"},
        "three garbage segments": {"Authorization": "Bearer a.b.c"},
        "flipped signature byte": bearer(f"{header}.{payload}.{_b64(bytes(flipped))}"),
        "alg none": bearer(unsigned),
        "HS256 signed with the public key": bearer(f"{hs_header}.{payload}.{hs_signature}"),
        "expired": bearer(_mint(claims, exp=now - 3600, iat=now - 7200, auth_time=now - 7200)),
        "not yet valid": bearer(_mint(claims, iat=now + 3600, nbf=now + 3600, exp=now + 7200)),
        "wrong audience": bearer(_mint(claims, aud="another-app-client")),
        "wrong issuer": bearer(_mint(claims, iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other")),
        "no expiry": bearer(_mint(claims, exp=None)),
        "access token": bearer(account.access_token),
        "ID token claiming to be an access token": bearer(_mint(claims, token_use="access")),
        "signed by a different key, same key id": bearer(_mint(claims, key=stranger)),
        "signed by a different key, unknown key id": bearer(_mint(claims, key=stranger, kid="stranger")),
    }


def test_the_corpus_has_every_case(corpus: dict[str, dict[str, str]]) -> None:
    assert set(corpus) == set(CASES)


CASES = [
    "no header",
    "empty",
    "bearer and nothing",
    "garbage",
    "three garbage segments",
    "flipped signature byte",
    "alg none",
    "HS256 signed with the public key",
    "expired",
    "not yet valid",
    "wrong audience",
    "wrong issuer",
    "no expiry",
    "access token",
    "ID token claiming to be an access token",
    "signed by a different key, same key id",
    "signed by a different key, unknown key id",
]


def test_a_token_minted_here_with_the_pools_key_is_accepted(
    running_platform: RunningPlatform, account: Account, claims: dict[str, Any]
) -> None:
    api = HttpApi(running_platform.api_url)
    reply = api.call("GET", "/me", headers={"Authorization": f"Bearer {_mint(claims)}"})
    assert reply.status == 200
    assert reply.body["user_id"] == account.user_id


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("path", ["/me", "/tenant/members"])
def test_every_tampered_token_answers_401(
    running_platform: RunningPlatform, corpus: dict[str, dict[str, str]], case: str, path: str
) -> None:
    reply = HttpApi(running_platform.api_url).call("GET", path, headers=corpus[case])
    assert (reply.status, reply.error_code) == (401, "unauthenticated"), case
    assert reply.body["error"]["request_id"] == reply.headers["X-Request-Id"]
