"""Client-facing API surfaces, by the route table's endpoint name (see `surfaces.base`)."""

from __future__ import annotations

from producers.gateway.surfaces.base import Pipe, Plan, Surface
from producers.gateway.surfaces.chat import CHAT
from producers.gateway.surfaces.embeddings import EMBEDDINGS
from producers.gateway.surfaces.messages import COUNT_TOKENS, MESSAGES
from producers.gateway.surfaces.responses import RESPONSES

SURFACES: dict[str, Surface] = {
    "chat.completions": CHAT,
    "embeddings": EMBEDDINGS,
    "responses": RESPONSES,
    "messages": MESSAGES,
    "messages.count_tokens": COUNT_TOKENS,
}

__all__ = ["SURFACES", "Plan", "Pipe", "Surface"]
