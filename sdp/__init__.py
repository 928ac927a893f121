"""The platform's Python client: `sdp.Client`, its typed records and one exception tree."""

from sdp.client import DEFAULT_URL, Client, NotLoggedIn, RetryPolicy, __version__
from sdp.credentials import CredentialStore, Login
from sdp.errors import (
    ApiError,
    AuthenticationError,
    FileFailed,
    LoginExpired,
    NetworkError,
    NotFound,
    PermissionDenied,
    QueryFailed,
    QuotaExceeded,
    SdpError,
    SqlRefused,
    Throttled,
    Unavailable,
)
from sdp.models import Column, File, Me, Member, Query, QueryStats, SignUp, Table
from sdp.results import QueryResult
from sdp.uploads import UploadRefused

__all__ = [
    "DEFAULT_URL",
    "ApiError",
    "AuthenticationError",
    "Client",
    "Column",
    "CredentialStore",
    "File",
    "FileFailed",
    "Login",
    "LoginExpired",
    "Me",
    "Member",
    "NetworkError",
    "NotFound",
    "NotLoggedIn",
    "PermissionDenied",
    "Query",
    "QueryFailed",
    "QueryResult",
    "QueryStats",
    "QuotaExceeded",
    "RetryPolicy",
    "SdpError",
    "SignUp",
    "SqlRefused",
    "Table",
    "Throttled",
    "Unavailable",
    "UploadRefused",
    "__version__",
]
