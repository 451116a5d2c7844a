"""Building model providers from ``loom.toml``, and the embedded default."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

from loom.adapters.models.llamacpp import LlamaCppProvider, default_model_path
from loom.adapters.models.openai_compatible import OpenAICompatibleProvider
from loom.app.config import ROLES, LoomConfig, ModelConfig
from loom.domain.errors import ConfigError
from loom.domain.ports import ModelProvider

__all__ = [
    "DEFAULT_MODEL_NAME",
    "ConfiguredModel",
    "build_provider",
    "configured_models",
    "default_model_notice",
    "model_for_role",
]

DEFAULT_MODEL_NAME = "smollm2"
DEFAULT_CONTEXT = 8192
_NOTICE_MARKER = ".default-model-notice-shown"

_DEFAULT_URLS = {
    "ollama": "http://localhost:11434",
    "openai_compatible": "http://localhost:8000/v1",
    "anthropic": "https://api.anthropic.com",
}


@dataclass(frozen=True)
class ConfiguredModel:
    """A model's name with its settings; ``embedded`` marks the default."""

    name: str
    config: ModelConfig
    embedded: bool = False


def configured_models(config: LoomConfig) -> list[ConfiguredModel]:
    """The models in ``loom.toml``, or the embedded default when there are none."""
    if config.models:
        return [ConfiguredModel(n, c) for n, c in config.models.items()]
    embedded = ModelConfig(
        provider="llamacpp",
        model="SmolLM2-135M-Instruct",
        context_length=DEFAULT_CONTEXT,
        max_tokens=512,
        roles=list(ROLES),
    )
    return [ConfiguredModel(DEFAULT_MODEL_NAME, embedded, embedded=True)]


def model_for_role(config: LoomConfig, role: str) -> ConfiguredModel:
    """The first configured model that takes ``role``."""
    for candidate in configured_models(config):
        if role in candidate.config.roles:
            return candidate
    source = config.source or "loom.toml"
    raise ConfigError(
        f"{source}: no model has the role {role!r}; add it to a model's roles"
    )


def build_provider(
    configured: ConfiguredModel, transport: httpx.AsyncBaseTransport | None = None
) -> ModelProvider:
    """The provider object for one configured model."""
    c, name = configured.config, configured.name
    url = c.base_url or _DEFAULT_URLS.get(c.provider, "")
    if c.provider == "llamacpp":
        path = c.model_path or default_model_path()
        return LlamaCppProvider(
            name=name,
            model_path=Path(path),
            context_length=c.context_length or DEFAULT_CONTEXT,
        )
    if c.provider == "openai_compatible":
        return OpenAICompatibleProvider(
            name=name,
            model=c.model,
            base_url=url,
            api_key=c.resolved_api_key(),
            context_length=c.context_length or 8192,
            native_tools=c.native_tools,
            structured_output=c.structured_output,
            timeout=c.timeout,
            transport=transport,
        )
    if c.provider == "ollama":
        from loom.adapters.models.ollama import OllamaProvider

        return OllamaProvider(
            name=name,
            model=c.model,
            base_url=url,
            context_length=c.context_length,
            native_tools=c.native_tools,
            tool_streaming=c.tool_streaming,
            timeout=c.timeout,
            transport=transport,
        )
    from loom.adapters.models.anthropic import AnthropicProvider

    key = c.resolved_api_key()
    if not key:
        raise ConfigError(
            f"model {name!r} uses the anthropic provider but has no API key: set "
            "api_key_env (for example ANTHROPIC_API_KEY) in loom.toml"
        )
    return AnthropicProvider(
        name=name,
        model=c.model,
        api_key=key,
        base_url=url,
        context_length=c.context_length or 200_000,
        timeout=c.timeout,
        transport=transport,
    )


def default_model_notice(home: Path) -> str | None:
    """The one-time explanation of the embedded default, or None once shown."""
    marker = home / _NOTICE_MARKER
    if marker.exists():
        return None
    home.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return (
        "Loom is using its embedded default model, SmolLM2-135M, because no model is "
        "configured. It is tiny and often wrong: it is here so you can try Loom "
        "without a server. For real work, add a [models.NAME] section to loom.toml "
        "(see loom.example.toml) pointing at Ollama, LM Studio, vLLM, llama.cpp or "
        "an API, then check it with `loom models --check`."
    )
