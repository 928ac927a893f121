"""GET /health: liveness, without authentication."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.services import services

bp = Blueprint(__name__)


@bp.route("/health", methods=["GET"])
def health() -> dict[str, str]:
    return {"status": "ok", "version": services().settings.version}
