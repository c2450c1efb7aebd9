"""Anthropic Messages request -> OpenAI chat completions body (pure).

`to_chat(body)` maps: `system` (text or text blocks) -> a system message; user text / image
blocks -> content parts (base64 images become data URLs); `tool_result` blocks -> `tool`
messages (before the rest of their turn, as chat wants); assistant `tool_use` -> `tool_calls`;
`thinking` / `redacted_thinking` blocks and `cache_control` are dropped; `tools` -> function
tools (`input_schema` -> `parameters`); `tool_choice` auto/any/tool/none -> auto/required/
named/none (`disable_parallel_tool_use` -> `parallel_tool_calls: false`); `stop_sequences` ->
`stop`; `max_tokens`, `temperature`, `top_p`, `stream` kept (`metadata`
stays with the gateway: it tags the request event).

What chat cannot express (documents, server tools such as web search, ...) does not fail the
translation: it is listed in `Translated.unsupported` (a field path and why), and the surface
refuses it with a 400 only when the request goes to a translated (non-Anthropic) family.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

_CHOICES = {"auto": "auto", "any": "required", "none": "none"}


@dataclass(slots=True)
class Translated:
    chat: dict[str, Any]
    unsupported: list[str] = field(default_factory=list)  # "field path: reason"


def block_text(content: Any) -> str:
    """The text of a `system` / tool_result content (a string or text blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            b.get("text", "")
            for b in content
            if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
        )
    return ""


def _image_part(block: dict[str, Any], where: str, out: Translated) -> dict[str, Any] | None:
    raw = block.get("source")
    src: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if src.get("type") == "base64" and isinstance(src.get("data"), str):
        media = src.get("media_type") or "image/png"
        return {"type": "image_url", "image_url": {"url": f"data:{media};base64,{src['data']}"}}
    if src.get("type") == "url" and isinstance(src.get("url"), str):
        return {"type": "image_url", "image_url": {"url": src["url"]}}
    out.unsupported.append(f"{where}.source: only base64 and url images can be translated")
    return None


def _user_turn(content: Any, i: int, out: Translated) -> list[dict[str, Any]]:
    """One Anthropic user turn -> tool messages first, then one user message (if any content)."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    msgs: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, b in enumerate(content if isinstance(content, list) else []):
        where = f"messages[{i}].content[{j}]"
        kind = b.get("type") if isinstance(b, dict) else None
        if kind == "text":
            parts.append({"type": "text", "text": b.get("text", "")})
        elif kind == "image":
            p = _image_part(b, where, out)
            if p is not None:
                parts.append(p)
        elif kind == "tool_result":
            text = block_text(b.get("content"))
            if b.get("is_error") and text:
                text = "Error: " + text
            msgs.append({"role": "tool", "tool_call_id": str(b.get("tool_use_id", "")), "content": text})
            if isinstance(b.get("content"), list) and any(
                isinstance(x, dict) and x.get("type") == "image" for x in b["content"]
            ):
                out.unsupported.append(f"{where}.content: images inside a tool_result cannot be translated")
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            out.unsupported.append(f"{where}.type: content block type {kind!r} cannot be translated")
    if parts:
        if all(p["type"] == "text" for p in parts):
            msgs.append({"role": "user", "content": "\n".join(p["text"] for p in parts)})
        else:
            msgs.append({"role": "user", "content": parts})
    return msgs


def _assistant_turn(content: Any, i: int, out: Translated) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, b in enumerate(content if isinstance(content, list) else []):
        kind = b.get("type") if isinstance(b, dict) else None
        if kind == "text":
            texts.append(b.get("text", ""))
        elif kind == "tool_use":
            calls.append(
                {
                    "id": str(b.get("id", "")),
                    "type": "function",
                    "function": {
                        "name": str(b.get("name", "")),
                        "arguments": json.dumps(b.get("input") or {}, separators=(",", ":")),
                    },
                }
            )
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            out.unsupported.append(f"messages[{i}].content[{j}].type: content block type {kind!r} cannot be translated")
    msg: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        msg["tool_calls"] = calls
    return msg


def _tools(tools: Any, out: Translated) -> list[dict[str, Any]]:
    res = []
    for k, t in enumerate(tools if isinstance(tools, list) else []):
        if not isinstance(t, dict):
            continue
        if t.get("type") not in (None, "custom") or "input_schema" not in t:
            out.unsupported.append(
                f"tools[{k}].type: the server tool {t.get('type') or t.get('name')!r} "
                "is only available on Anthropic configurations"
            )
            continue
        fn: dict[str, Any] = {
            "name": t.get("name", ""),
            "parameters": t.get("input_schema") or {"type": "object", "properties": {}},
        }
        if t.get("description"):
            fn["description"] = t["description"]
        res.append({"type": "function", "function": fn})
    return res


def _tool_choice(tc: Any, chat: dict[str, Any]) -> None:
    if not isinstance(tc, dict):
        return
    kind = tc.get("type")
    if kind in _CHOICES:
        chat["tool_choice"] = _CHOICES[kind]
    elif kind == "tool" and tc.get("name"):
        chat["tool_choice"] = {"type": "function", "function": {"name": tc["name"]}}
    if tc.get("disable_parallel_tool_use") and chat.get("tools"):
        chat["parallel_tool_calls"] = False


def to_chat(body: dict[str, Any]) -> Translated:
    """A validated Anthropic Messages body -> the equivalent OpenAI chat body."""
    out = Translated(chat={})
    messages: list[dict[str, Any]] = []
    system = block_text(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for i, m in enumerate(body.get("messages") or []):
        if m.get("role") == "assistant":
            messages.append(_assistant_turn(m.get("content"), i, out))
        else:
            messages.extend(_user_turn(m.get("content"), i, out))
    chat: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    if body.get("max_tokens") is not None:
        chat["max_tokens"] = body["max_tokens"]
    for k in ("temperature", "top_p", "stream"):
        if body.get(k) is not None:
            chat[k] = body[k]
    if body.get("stop_sequences"):
        chat["stop"] = list(body["stop_sequences"])
    if body.get("tools"):
        tools = _tools(body["tools"], out)
        if tools:
            chat["tools"] = tools
            _tool_choice(body.get("tool_choice"), chat)
    out.chat = chat
    return out
