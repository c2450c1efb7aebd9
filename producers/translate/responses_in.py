"""OpenAI Responses request -> OpenAI chat completions body (pure).

`to_chat(body)` maps: `instructions` -> a system message; `input` text -> a user message;
input items: messages (`input_text` / `output_text` / `input_image` parts; developer -> system),
`function_call` -> assistant `tool_calls` (consecutive calls share one assistant message),
`function_call_output` -> `tool` messages, `reasoning` items dropped; function `tools`
(flat `{type, name, parameters}` -> `{type, function:{...}}`), `tool_choice`, `text.format`
(json_schema / json_object -> `response_format`), `max_output_tokens` -> `max_tokens`,
`temperature`, `top_p`, `parallel_tool_calls`, `stream`.

What chat cannot express without the provider's stored state or built-in tools
(`previous_response_id`, `conversation`, `background`, `prompt`, built-in tools, file inputs,
item references) is listed in `Translated.unsupported` ("field path: why"); the surface answers
400 naming the field when such a request goes to a translated family. `check(body)` raises
`ValueError((message, param))` for bodies OpenAI itself would refuse on every family.
"""

from __future__ import annotations

from typing import Any

from producers.translate.anthropic_in import Translated

STATEFUL = {
    "previous_response_id": "needs the provider's stored responses",
    "conversation": "needs the provider's stored conversation",
    "background": "background responses need the provider's stored state",
    "prompt": "stored prompt templates live at the provider",
}
_TEXT_PARTS = ("input_text", "output_text", "text")


class Invalid(ValueError):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param = message, param


def check(body: dict[str, Any]) -> None:
    """OpenAI's own refusals that hold whatever the family (raises Invalid)."""
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise Invalid("Missing required parameter: 'model'.", "model")
    inp = body.get("input")
    if inp is None and not body.get("previous_response_id") and not body.get("conversation"):
        raise Invalid("Missing required parameter: 'input'.", "input")
    if inp is not None and not isinstance(inp, (str, list)):
        raise Invalid("Invalid type for 'input': expected a string or an array of input items.", "input")
    if isinstance(inp, list):
        for i, item in enumerate(inp):
            if not isinstance(item, dict):
                raise Invalid(f"Invalid type for 'input[{i}]': expected an object.", f"input[{i}]")
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        raise Invalid("Invalid type for 'stream': expected a boolean.", "stream")
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise Invalid("Invalid type for 'tools': expected an array.", "tools")
    for k, t in enumerate(tools or []):
        if not isinstance(t, dict) or not isinstance(t.get("type"), str):
            raise Invalid(f"Missing required parameter: 'tools[{k}].type'.", f"tools[{k}].type")
        if t["type"] == "function" and not t.get("name"):
            raise Invalid(f"Missing required parameter: 'tools[{k}].name'.", f"tools[{k}].name")
    if body.get("instructions") is not None and not isinstance(body["instructions"], str):
        raise Invalid("Invalid type for 'instructions': expected a string.", "instructions")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text", "") if p.get("type") in _TEXT_PARTS else p.get("refusal", "")
            for p in content
            if isinstance(p, dict) and p.get("type") in (*_TEXT_PARTS, "refusal")
        )
    return ""


def _user_content(content: Any, where: str, out: Translated) -> Any:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for j, p in enumerate(content if isinstance(content, list) else []):
        kind = p.get("type") if isinstance(p, dict) else None
        if kind in _TEXT_PARTS:
            parts.append({"type": "text", "text": p.get("text", "")})
        elif kind == "input_image" and isinstance(p.get("image_url"), str):
            img: dict[str, Any] = {"url": p["image_url"]}
            if p.get("detail") in ("low", "high"):
                img["detail"] = p["detail"]
            parts.append({"type": "image_url", "image_url": img})
        else:
            out.unsupported.append(
                f"{where}.content[{j}].type: input part {kind!r} cannot be translated "
                "(file inputs and file ids live at the provider)"
            )
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def _items(items: list[dict[str, Any]], msgs: list[dict[str, Any]], out: Translated) -> None:
    prev_call = False  # the previous item was a function_call (its assistant message is msgs[-1])
    for i, item in enumerate(items):
        kind = item.get("type") or ("message" if "role" in item else None)
        where = f"input[{i}]"
        if kind == "message":
            role = item.get("role")
            if role in ("system", "developer"):
                msgs.append({"role": "system", "content": _text(item.get("content"))})
            elif role == "assistant":
                msgs.append({"role": "assistant", "content": _text(item.get("content"))})
            elif role == "user":
                msgs.append({"role": "user", "content": _user_content(item.get("content"), where, out)})
            else:
                out.unsupported.append(f"{where}.role: role {role!r} cannot be translated")
            prev_call = False
            continue
        if kind == "function_call":
            call = {
                "id": str(item.get("call_id", "")),
                "type": "function",
                "function": {"name": str(item.get("name", "")), "arguments": item.get("arguments") or "{}"},
            }
            if msgs and msgs[-1]["role"] == "assistant" and (prev_call or not msgs[-1].get("tool_calls")):
                msgs[-1].setdefault("tool_calls", []).append(call)
                if not msgs[-1].get("content"):
                    msgs[-1]["content"] = None
            else:
                msgs.append({"role": "assistant", "content": None, "tool_calls": [call]})
            prev_call = True
            continue
        prev_call = False
        if kind == "function_call_output":
            output = item.get("output")
            msgs.append(
                {
                    "role": "tool",
                    "tool_call_id": str(item.get("call_id", "")),
                    "content": output if isinstance(output, str) else _text(output),
                }
            )
        elif kind == "reasoning":
            continue
        else:
            out.unsupported.append(f"{where}.type: input item {kind!r} cannot be translated")


def _tools(body: dict[str, Any], chat: dict[str, Any], out: Translated) -> None:
    tools = []
    for k, t in enumerate(body.get("tools") or []):
        if t.get("type") != "function":
            out.unsupported.append(
                f"tools[{k}].type: tool type {t.get('type')!r} (built-in or custom) is only "
                "available on OPENAI configurations; translated families take function tools"
            )
            continue
        fn: dict[str, Any] = {
            "name": t["name"],
            "parameters": t.get("parameters") or {"type": "object", "properties": {}},
        }
        if t.get("description"):
            fn["description"] = t["description"]
        if t.get("strict") is not None:
            fn["strict"] = t["strict"]
        tools.append({"type": "function", "function": fn})
    if not tools:
        return
    chat["tools"] = tools
    tc = body.get("tool_choice")
    if tc in ("auto", "none", "required"):
        chat["tool_choice"] = tc
    elif isinstance(tc, dict) and tc.get("type") == "function" and tc.get("name"):
        chat["tool_choice"] = {"type": "function", "function": {"name": tc["name"]}}
    elif tc is not None:
        out.unsupported.append("tool_choice: only auto, none, required or a function can be translated")
    if isinstance(body.get("parallel_tool_calls"), bool):
        chat["parallel_tool_calls"] = body["parallel_tool_calls"]


def _format(body: dict[str, Any], chat: dict[str, Any]) -> None:
    fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    if not isinstance(fmt, dict):
        return
    if fmt.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    elif fmt.get("type") == "json_schema":
        js = {k: fmt[k] for k in ("name", "schema", "strict", "description") if fmt.get(k) is not None}
        chat["response_format"] = {"type": "json_schema", "json_schema": js}


def to_chat(body: dict[str, Any]) -> Translated:
    """A checked Responses body -> the equivalent chat body and what it could not carry."""
    out = Translated(chat={})
    for k, why in STATEFUL.items():
        if body.get(k):
            out.unsupported.append(f"{k}: {why}, which only OPENAI configurations keep")
    msgs: list[dict[str, Any]] = []
    if body.get("instructions"):
        msgs.append({"role": "system", "content": body["instructions"]})
    inp = body.get("input")
    if isinstance(inp, str):
        msgs.append({"role": "user", "content": inp})
    elif isinstance(inp, list):
        _items(inp, msgs, out)
    chat: dict[str, Any] = {"model": body.get("model"), "messages": msgs}
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    for k in ("temperature", "top_p", "stream"):
        if body.get(k) is not None:
            chat[k] = body[k]
    if body.get("tools"):
        _tools(body, chat, out)
    _format(body, chat)
    out.chat = chat
    return out
