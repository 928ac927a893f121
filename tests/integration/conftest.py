from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.services import Services, install
from tests.ingestor import Ingestor


@pytest.fixture
def ingestor(platform_services: Services, client: Client, app: Any) -> Ingestor:
    return Ingestor(platform_services, client, app)


@pytest.fixture
def limited(platform_services: Services, client: Client, app: Any) -> Any:
    """An ingestor whose platform runs with some settings changed (limits scaled down)."""

    def ingestor(**settings: Any) -> Ingestor:
        install(Services(platform_services.settings.model_copy(update=settings), platform_services.clients))
        return Ingestor(platform_services, client, app)

    return ingestor
