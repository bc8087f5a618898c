"""The gateway's own OpenAPI document (``GET /openapi.json``)."""

from __future__ import annotations

from typing import Any

from .config import GatewayConfig


def document(cfg: GatewayConfig) -> dict[str, Any]:
    """OpenAPI 3.1 for the routes the gateway serves; model enums from the config."""
    models = ["auto", *cfg.models]
    return {
        "openapi": "3.1.0",
        "info": {"title": "LLM gateway", "version": "0.1.0"},
        "paths": {},
        "x-models": models,
    }
