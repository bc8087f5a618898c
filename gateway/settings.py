"""Process settings from the environment (read once, at the entry point)."""

from __future__ import annotations

from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """The environment variables of the contract, plus logging knobs.

    Provider keys and URLs here are the *defaults* the shipped YAML expands with
    ``${KIMI_API_KEY:-}`` and friends; the YAML stays the single source of truth for
    what the gateway does, and secrets never live in it.
    """

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    kimi_api_key: str = ""
    kimi_base_url: str = "https://api.moonshot.ai/v1"
    anthropic_api_key: str = ""
    anthropic_base_url: str = "https://api.anthropic.com"
    redis_url: str = ""
    gateway_config: str = ""  # empty: resolved by config.resolve_config_path

    gateway_log_level: str = "info"
    gateway_log_format: Literal["json", "human"] = "json"
    # Prompts and completions are never logged unless this is set (debugging only).
    gateway_log_prompts: bool = False
