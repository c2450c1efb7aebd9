"""Policy hooks in the request path (`producers.policy` implements them; the defaults do nothing).

`precheck(ctx, body)` runs after auth and routing, before any provider call; it must be
in-memory and fast (no I/O). Returning a `Block` ends the request with 403 (policy) or 429
(limit, with Retry-After). `post_usage(ctx, event)` runs after the response, with the final
`RequestEvent` (usage known); it must not block or raise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from store.snapshot import KeyEntry, Snapshot


@dataclass(slots=True)
class RequestContext:
    """What a policy may look at. `body` holds the client's request (messages included)."""

    request_id: str
    key: KeyEntry
    snapshot: Snapshot
    endpoint: str  # the surface: chat | embeddings | responses | messages | models
    model: str
    stream: bool = False
    user_id: str | None = None
    conversation_id: str | None = None
    policy_ids: list[str] = field(default_factory=list)  # policies that fired (set by hooks)
    extra: dict[str, Any] = field(default_factory=dict)  # free slot for hook state


@dataclass(slots=True)
class Block:
    """Stop the request. status 403 names the policy; 429 is a limit with Retry-After."""

    status: int
    message: str
    policy_id: str | None = None
    retry_after_s: int | None = None
    code: str = "policy_blocked"


class PolicyHooks(Protocol):
    def precheck(self, ctx: RequestContext, body: dict) -> Block | None: ...
    def post_usage(self, ctx: RequestContext, event: Any) -> None: ...


class NoPolicies:
    """Default: every request passes; nothing is recorded."""

    def precheck(self, ctx: RequestContext, body: dict) -> Block | None:
        return None

    def post_usage(self, ctx: RequestContext, event: Any) -> None:
        return None


PrecheckFn = Callable[[RequestContext, dict], "Block | None"]
