"""The pure translators of `producers.translate`: literal bodies in, literal bodies or events out."""

from __future__ import annotations

import orjson

from producers.adapters.base import Usage
from producers.translate import anthropic_in, anthropic_out, responses_in, responses_out


def chunk(delta: dict | None = None, finish: str | None = None, usage: dict | None = None) -> bytes:
    d = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        d["usage"] = usage
    return b"data: " + orjson.dumps(d) + b"\n\n"


def parse_sse(raw: bytes) -> list[tuple[str, dict]]:
    out = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((lines["event"], orjson.loads(lines["data"])))
    return out


def test_anthropic_request_to_chat() -> None:
    body = {
        "model": "m",
        "max_tokens": 64,
        "stop_sequences": ["END"],
        "temperature": 0.2,
        "system": [
            {"type": "text", "text": "sys one", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "sys two"},
        ],
        "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hm", "signature": "s"},
                    {"type": "text", "text": "calling"},
                    {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [{"type": "text", "text": "r"}],
                        "is_error": True,
                    },
                    {"type": "text", "text": "go on"},
                ],
            },
        ],
    }
    tr = anthropic_in.to_chat(body)
    assert tr.unsupported == []
    assert tr.chat == {
        "model": "m",
        "max_tokens": 64,
        "temperature": 0.2,
        "stop": ["END"],
        "tools": [
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "description": "d"}}
        ],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "messages": [
            {"role": "system", "content": "sys one\nsys two"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            },
            {
                "role": "assistant",
                "content": "calling",
                "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}],
            },
            {"role": "tool", "tool_call_id": "t1", "content": "Error: r"},
            {"role": "user", "content": "go on"},
        ],
    }


def test_anthropic_request_lists_what_chat_cannot_carry() -> None:
    tr = anthropic_in.to_chat(
        {
            "model": "m",
            "max_tokens": 5,
            "tools": [{"type": "web_search_20250305", "name": "ws"}],
            "messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}],
        }
    )
    assert [u.split(":")[0] for u in tr.unsupported] == ["messages[0].content[0].type", "tools[0].type"]
    assert "tools" not in tr.chat


def test_chat_completion_to_anthropic_message() -> None:
    completion = {
        "choices": [
            {
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "ok",
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"q":"x"}'}}
                    ],
                },
            }
        ]
    }
    msg = anthropic_out.to_message(completion, Usage(10, 4, 3), "claude-x", "rid")
    assert msg == {
        "id": "msg_rid",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [{"type": "text", "text": "ok"}, {"type": "tool_use", "id": "c1", "name": "f", "input": {"q": "x"}}],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 7,
            "output_tokens": 4,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 3,
        },
    }


def test_chunks_to_anthropic_events() -> None:
    s = anthropic_out.MessagesStream("m", "rid")
    raw = s.feed(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Hi"}),
            chunk(
                {
                    "tool_calls": [
                        {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}
                    ]
                }
            ),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
            chunk({}, "tool_calls"),
            chunk(None, usage={"prompt_tokens": 5, "completion_tokens": 2}),
            b"data: [DONE]\n\n",
        ]
    )
    raw += s.close(Usage(5, 2))
    events = parse_sse(raw)
    assert [e for e, _ in events] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[2][1]["content_block"] == {"type": "text", "text": ""}
    assert events[5][1] == {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "tool_use", "id": "c1", "name": "f", "input": {}},
    }
    assert (
        "".join(d["delta"]["partial_json"] for e, d in events if d.get("delta", {}).get("type") == "input_json_delta")
        == '{"a":1}'
    )
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert events[-2][1]["usage"]["input_tokens"] == 5 and events[-2][1]["usage"]["output_tokens"] == 2


def test_anthropic_stream_error_tail() -> None:
    s = anthropic_out.MessagesStream("m", "rid")
    raw = s.feed([chunk({"content": "Hi"})]) + s.close(None, (502, "broke"))
    events = parse_sse(raw)
    assert [e for e, _ in events][-2:] == ["content_block_stop", "error"]
    assert events[-1][1] == {"type": "error", "error": {"type": "api_error", "message": "broke"}}


def test_responses_request_to_chat() -> None:
    body = {
        "model": "m",
        "instructions": "be brief",
        "max_output_tokens": 99,
        "temperature": 0.5,
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True}],
        "tool_choice": {"type": "function", "name": "f"},
        "parallel_tool_calls": False,
        "text": {"format": {"type": "json_schema", "name": "r", "schema": {"type": "object"}, "strict": True}},
        "input": [
            {"role": "developer", "content": "dev"},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "see"},
                    {"type": "input_image", "image_url": "https://x/y.png", "detail": "low"},
                ],
            },
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"a":1}'},
            {"type": "function_call", "call_id": "c2", "name": "f", "arguments": '{"a":2}'},
            {"type": "function_call_output", "call_id": "c1", "output": "one"},
            {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "two"}]},
        ],
    }
    responses_in.check(body)
    tr = responses_in.to_chat(body)
    assert tr.unsupported == []
    assert tr.chat == {
        "model": "m",
        "max_tokens": 99,
        "temperature": 0.5,
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": True}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "parallel_tool_calls": False,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": {"type": "object"}, "strict": True},
        },
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "system", "content": "dev"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "see"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}},
                    {"id": "c2", "type": "function", "function": {"name": "f", "arguments": '{"a":2}'}},
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "one"},
            {"role": "tool", "tool_call_id": "c2", "content": "two"},
        ],
    }


def test_responses_request_refusals_name_the_field() -> None:
    tr = responses_in.to_chat(
        {
            "model": "m",
            "input": [{"type": "item_reference", "id": "x"}],
            "previous_response_id": "resp_1",
            "tools": [{"type": "file_search"}],
        }
    )
    assert [u.split(":")[0] for u in tr.unsupported] == ["previous_response_id", "input[0].type", "tools[0].type"]
    for body, param in (
        ({"input": "x"}, "model"),
        ({"model": "m"}, "input"),
        ({"model": "m", "input": "x", "tools": [{"type": "function"}]}, "tools[0].name"),
    ):
        try:
            responses_in.check(body)
        except responses_in.Invalid as exc:
            assert exc.param == param
        else:
            raise AssertionError(f"{body} passed")


def test_chat_completion_to_response() -> None:
    completion = {
        "created": 7,
        "choices": [{"finish_reason": "length", "message": {"role": "assistant", "content": "partial"}}],
    }
    r = responses_out.to_response(
        completion, Usage(3, 2, 1), {"model": "m", "input": "x", "max_output_tokens": 2}, "gem", "a-b"
    )
    assert r["id"] == "resp_ab" and r["created_at"] == 7 and r["model"] == "gem"
    assert r["status"] == "incomplete" and r["incomplete_details"] == {"reason": "max_output_tokens"}
    assert r["output"] == [
        {
            "id": "msg_ab",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "partial", "annotations": [], "logprobs": []}],
        }
    ]
    assert r["usage"] == {
        "input_tokens": 3,
        "input_tokens_details": {"cached_tokens": 1},
        "output_tokens": 2,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 5,
    }


def test_chunks_to_responses_events() -> None:
    s = responses_out.ResponsesStream({"model": "m", "input": "x"}, "m", "rid")
    raw = s.feed(
        [
            chunk({"role": "assistant", "content": "A"}),
            chunk({"content": "B"}),
            chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{"}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]}),
            chunk({}, "tool_calls"),
        ]
    )
    raw += s.close(Usage(4, 3))
    events = parse_sse(raw)
    assert [e for e, _ in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    assert events[2][1]["item"] == {
        "id": "msg_rid",
        "type": "message",
        "status": "in_progress",
        "role": "assistant",
        "content": [],
    }
    assert events[6][1]["output_index"] == 1 and events[6][1]["item"]["call_id"] == "c1"
    assert events[9][1]["text"] == "AB" and events[12][1]["arguments"] == "{}"
    final = events[-1][1]["response"]
    assert final["status"] == "completed" and [o["type"] for o in final["output"]] == ["message", "function_call"]
    assert final["usage"]["total_tokens"] == 7


def test_responses_stream_failure_tail() -> None:
    s = responses_out.ResponsesStream({"model": "m", "input": "x"}, "m", "rid")
    events = parse_sse(s.feed([chunk({"content": "A"})]) + s.close(None, ("server_error", "broke")))
    assert events[-1][0] == "response.failed"
    assert events[-1][1]["response"]["status"] == "failed"
    assert events[-1][1]["response"]["error"] == {"code": "server_error", "message": "broke"}


def test_native_anthropic_request_keeps_the_body_and_forwards_beta() -> None:
    from producers.gateway.surfaces.messages import MESSAGES
    from store.snapshot import ConfigEntry

    cfg = ConfigEntry("c1", "o", "w", "claude", "ANTHROPIC", "https://api.example", None, None, secret="sk-x")
    body = {
        "model": "alias",
        "max_tokens": 9,
        "messages": [{"role": "user", "content": "hi"}],
        "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}],
        "metadata": {"user_id": "u", "conversation_id": "c"},
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    plan = MESSAGES.plan(body)
    plan.headers = {"anthropic-beta": "b1,b2"}
    req = MESSAGES.request(plan, cfg, "claude-real")
    assert req.url == "https://api.example/v1/messages"
    assert req.headers["anthropic-beta"] == "b1,b2" and req.headers["x-api-key"] == "sk-x"
    sent = orjson.loads(req.body)
    assert sent == dict(body, model="claude-real", metadata={"user_id": "u"})
    assert (plan.user_id, plan.conversation_id) == ("u", "c")


def test_bedrock_invoke_stream_frames_become_anthropic_events() -> None:
    import base64

    from fakeupstream.eventstream import encode_frame, exception_frame
    from producers.adapters.bedrock_claude import InvokeStream

    def chunk_frame(event: dict) -> bytes:
        payload = orjson.dumps({"bytes": base64.b64encode(orjson.dumps(event)).decode()})
        return encode_frame(
            {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}, payload
        )

    s = InvokeStream()
    raw = chunk_frame({"type": "message_start", "message": {"usage": {"input_tokens": 3}}}) + chunk_frame(
        {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 3}}
    )
    out = s.feed(raw[:7]) + s.feed(raw[7:])  # frames split anywhere
    assert [e for e, _ in parse_sse(out)] == ["message_start", "message_stop"]
    assert parse_sse(out)[1][1] == {"type": "message_stop"}
    out = s.feed(exception_frame("throttlingException", b'{"message":"slow down"}'))
    assert parse_sse(out) == [
        ("error", {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
    ]
    assert s.error is not None and s.error.status == 429 and s.feed(chunk_frame({"type": "ping"})) == b""
