from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.services import Services
from tests.ingestor import Ingestor


@pytest.fixture
def ingestor(platform_services: Services, client: Client, app: Any) -> Ingestor:
    return Ingestor(platform_services, client, app)
