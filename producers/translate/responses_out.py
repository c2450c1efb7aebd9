"""OpenAI chat answers -> OpenAI Responses answers, plain and streamed (pure).

`to_response` turns a `chat.completion` into a `response` object (a `message` output item with
`output_text`, then one `function_call` item per tool call). `ResponsesStream` turns the
adapters' chunk lines into the Responses API's typed SSE events: `response.created`,
`response.in_progress`, `response.output_item.added`, `response.content_part.added`,
`response.output_text.delta` / `.done`, `response.function_call_arguments.delta` / `.done`,
`response.content_part.done`, `response.output_item.done`, then `response.completed` (or
`response.incomplete` when the output hit `max_output_tokens`) carrying usage, every event with
its `sequence_number`; `response.failed` when the provider failed mid-stream.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from producers.adapters.base import Usage
from producers.translate.chunks import deltas

INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def usage_block(u: Usage | None) -> dict[str, Any] | None:
    if u is None:
        return None
    return {
        "input_tokens": u.tokens_in,
        "input_tokens_details": {"cached_tokens": u.cached_tokens},
        "output_tokens": u.tokens_out,
        "output_tokens_details": {"reasoning_tokens": u.reasoning},
        "total_tokens": u.tokens_in + u.tokens_out,
    }


def ids(request_id: str) -> str:
    return request_id.replace("-", "")


def envelope(request: dict[str, Any], model: str, request_id: str, created: int) -> dict[str, Any]:
    """The `response` object's fields that echo the request (status/output/usage set by callers)."""
    text = request.get("text") if isinstance(request.get("text"), dict) else {"format": {"type": "text"}}
    return {
        "id": f"resp_{ids(request_id)}",
        "object": "response",
        "created_at": created,
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "metadata": request.get("metadata") or {},
        "model": model,
        "output": [],
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": False,
        "temperature": request.get("temperature"),
        "text": text,
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools") or [],
        "top_p": request.get("top_p"),
        "truncation": "disabled",
        "usage": None,
        "user": None,
    }


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = (
        [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}] if status != "in_progress" else []
    )
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content}


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call_id,
        "name": name,
    }


def finish(resp: dict[str, Any], reason: str | None, usage: Usage | None) -> dict[str, Any]:
    why = INCOMPLETE.get(reason or "")
    resp["status"] = "incomplete" if why else "completed"
    resp["incomplete_details"] = {"reason": why} if why else None
    resp["usage"] = usage_block(usage)
    return resp


def to_response(
    completion: dict[str, Any], usage: Usage | None, request: dict[str, Any], model: str, request_id: str
) -> dict[str, Any]:
    """A Responses `response` for an OpenAI `chat.completion` (first choice)."""
    rid = ids(request_id)
    resp = envelope(request, model, request_id, int(completion.get("created") or time.time()))
    choice = (completion.get("choices") or [{}])[0]
    msg = choice.get("message") or {}
    if isinstance(msg.get("content"), str) and (msg["content"] or not msg.get("tool_calls")):
        resp["output"].append(message_item(f"msg_{rid}", msg["content"]))
    for k, tc in enumerate(msg.get("tool_calls") or ()):
        fn = tc.get("function") or {}
        resp["output"].append(
            call_item(
                f"fc_{rid}_{k}", tc.get("id") or f"call_{rid}_{k}", fn.get("name", ""), fn.get("arguments") or "{}"
            )
        )
    return finish(resp, choice.get("finish_reason"), usage)


def event(data: dict[str, Any]) -> bytes:
    kind: str = data["type"]
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class ResponsesStream:
    """Chunk lines in, Responses events out. `feed` per batch, `close` once at the end."""

    def __init__(self, request: dict[str, Any], model: str, request_id: str) -> None:
        self.rid = ids(request_id)
        self.resp = envelope(request, model, request_id, int(time.time()))
        self.seq = 0
        self.started = False
        self.items: list[dict[str, Any]] = []  # output items in order (mutable while streaming)
        self.text_item: dict[str, Any] | None = None
        self.calls: dict[int, dict[str, Any]] = {}  # chat tool-call index -> item
        self.reason: str | None = None
        self.error: dict[str, Any] | None = None
        self.chars = 0

    def _ev(self, kind: str, **data: Any) -> bytes:
        out = event({"type": kind, "sequence_number": self.seq, **data})
        self.seq += 1
        return out

    def _start(self) -> bytes:
        if self.started:
            return b""
        self.started = True
        return self._ev("response.created", response=self.resp) + self._ev("response.in_progress", response=self.resp)

    def _add(self, item: dict[str, Any]) -> bytes:
        self.items.append(item)
        return self._ev(
            "response.output_item.added",
            output_index=len(self.items) - 1,
            item={k: v for k, v in item.items() if k != "text"},
        )

    def feed(self, lines: list[bytes]) -> bytes:
        out = [self._start()] if lines else []
        for d in deltas(lines):
            if d.kind == "text":
                self.chars += len(d.text)
                if self.text_item is None:
                    self.text_item = message_item(f"msg_{self.rid}", "", "in_progress")
                    self.text_item["text"] = ""
                    out.append(self._add(self.text_item))
                    out.append(
                        self._ev(
                            "response.content_part.added",
                            item_id=self.text_item["id"],
                            output_index=len(self.items) - 1,
                            content_index=0,
                            part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
                        )
                    )
                self.text_item["text"] += d.text
                out.append(
                    self._ev(
                        "response.output_text.delta",
                        item_id=self.text_item["id"],
                        output_index=self.items.index(self.text_item),
                        content_index=0,
                        delta=d.text,
                        logprobs=[],
                    )
                )
            elif d.kind == "tool_start" and d.index not in self.calls:
                self.chars += len(d.name)
                item = call_item(
                    f"fc_{self.rid}_{d.index}", d.call_id or f"call_{self.rid}_{d.index}", d.name, "", "in_progress"
                )
                self.calls[d.index] = item
                out.append(self._add(item))
            elif d.kind == "tool_args" and d.index in self.calls:
                self.chars += len(d.text)
                item = self.calls[d.index]
                item["arguments"] += d.text
                out.append(
                    self._ev(
                        "response.function_call_arguments.delta",
                        item_id=item["id"],
                        output_index=self.items.index(item),
                        delta=d.text,
                    )
                )
            elif d.kind == "finish":
                self.reason = d.data
            elif d.kind == "error":
                self.error = d.data
        return b"".join(out)

    def _done(self, i: int, item: dict[str, Any]) -> list[bytes]:
        if item["type"] == "message":
            text = item.pop("text")
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            final = message_item(item["id"], text)
            item.clear()
            item.update(final)
            return [
                self._ev(
                    "response.output_text.done",
                    item_id=item["id"],
                    output_index=i,
                    content_index=0,
                    text=text,
                    logprobs=[],
                ),
                self._ev("response.content_part.done", item_id=item["id"], output_index=i, content_index=0, part=part),
                self._ev("response.output_item.done", output_index=i, item=item),
            ]
        item["status"] = "completed"
        item["arguments"] = item["arguments"] or "{}"
        return [
            self._ev(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=i,
                arguments=item["arguments"],
                name=item["name"],
            ),
            self._ev("response.output_item.done", output_index=i, item=item),
        ]

    def close(self, usage: Usage | None, error: tuple[str, str] | None = None) -> bytes:
        """The tail: close every open item, then `response.completed` / `.incomplete` / `.failed`."""
        out = [self._start()]
        if error is not None or self.error is not None:
            code, message = error or ("server_error", str((self.error or {}).get("message") or "upstream error"))
            self.resp.update(
                status="failed",
                error={"code": code, "message": message},
                output=[i for i in self.items if i.get("status") == "completed"],
                usage=usage_block(usage),
            )
            out.append(self._ev("response.failed", response=self.resp))
            return b"".join(out)
        for i, item in enumerate(self.items):
            out.extend(self._done(i, item))
        self.resp["output"] = self.items
        finish(self.resp, self.reason, usage)
        kind = "response.completed" if self.resp["status"] == "completed" else "response.incomplete"
        out.append(self._ev(kind, response=self.resp))
        return b"".join(out)
