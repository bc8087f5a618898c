"""Pure translators between the OpenAI Chat Completions and Anthropic Messages wire
formats (both directions, streaming included) and Moonshot Kimi's OpenAI dialect.

Dicts in, dicts out: no I/O. Requests that cannot be translated raise
``gateway.errors.BadRequest`` naming the field; errors inside upstream streams raise
``gateway.errors.UpstreamStatusError``.
"""

from .from_anthropic import MessagesStreamToChat, messages_to_chat_response
from .from_messages import MessagesTranslation, messages_to_chat_request
from .kimi import KimiStreamNormalizer, chat_to_kimi_request, kimi_response_to_chat
from .stream_errors import anthropic_stream_error, openai_stream_error
from .to_anthropic import ChatTranslation, chat_to_messages_request
from .to_messages import ChatStreamToMessages, chat_to_messages_response
from .tool_ids import from_safe_tool_id, to_safe_tool_id
from .usage import anthropic_to_openai_usage, normalize_openai_usage, openai_to_anthropic_usage

__all__ = [
    "ChatStreamToMessages",
    "ChatTranslation",
    "KimiStreamNormalizer",
    "MessagesStreamToChat",
    "MessagesTranslation",
    "anthropic_stream_error",
    "anthropic_to_openai_usage",
    "chat_to_kimi_request",
    "chat_to_messages_request",
    "chat_to_messages_response",
    "from_safe_tool_id",
    "kimi_response_to_chat",
    "messages_to_chat_request",
    "messages_to_chat_response",
    "normalize_openai_usage",
    "openai_stream_error",
    "openai_to_anthropic_usage",
    "to_safe_tool_id",
]
