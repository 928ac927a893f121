"""GET /health: liveness, without authentication."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.settings import get_settings

bp = Blueprint(__name__)


@bp.route("/health", methods=["GET"])
def health() -> dict[str, str]:
    return {"status": "ok", "version": get_settings().version}
