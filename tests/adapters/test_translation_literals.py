"""Pure translation with literal provider payloads (shapes from the public API references)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from botocore.eventstream import EventStreamBuffer

from fakeupstream.eventstream import event_frame, exception_frame
from producers.adapters import adapter_for
from producers.adapters.base import ProviderConfig
from schemas.enums import AiType

NOW = dt.datetime(2024, 1, 15, 10, 30, tzinfo=dt.UTC)
CONV = [
    {"role": "system", "content": "You are terse."},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "Weather in Paris?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
        ],
    },
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "d",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "additionalProperties": False},
        },
    }
]


def body_of(req) -> dict:
    return json.loads(req.body)


def lines_to_chunks(lines):
    return [json.loads(x[6:]) for x in lines if x != b"data: [DONE]\n\n"]


# ---------------------------------------------------------------- OpenAI
def test_openai_passthrough_injects_include_usage_and_drops_metadata():
    a = adapter_for(AiType.OPENAI)
    cfg = ProviderConfig("c", AiType.OPENAI, "https://api.openai.com/v1/", None, "sk-x")
    req = a.chat_request(
        cfg,
        "gpt-4o",
        {"model": "openai/gpt-4o", "messages": CONV, "stream": True, "metadata": {"user_id": "u"}, "tools": TOOLS},
    )
    b = body_of(req)
    assert req.url == "https://api.openai.com/v1/chat/completions"
    assert b["model"] == "gpt-4o" and b["stream_options"] == {"include_usage": True}
    assert "metadata" not in b and b["messages"] == CONV and b["tools"] == TOOLS
    assert req.headers["authorization"] == "Bearer sk-x"
    assert "sk-x" not in repr(req)


def test_openai_stream_strips_usage_chunk_when_not_asked():
    a = adapter_for(AiType.OPENAI)
    raw = (
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}],"usage":null}\n\n'
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n'
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10,"prompt_tokens_details":{"cached_tokens":4}}}\n\n'
        b"data: [DONE]\n\n"
    )
    t = a.stream_translator("gpt-4o", "r", include_usage=False)
    out = [x for i in range(0, len(raw), 5) for x in t.feed(raw[i : i + 5])] + t.finish()
    assert len(out) == 3 and out[-1] == b"data: [DONE]\n\n"
    assert (t.usage.tokens_in, t.usage.tokens_out, t.usage.cached_tokens) == (9, 1, 4)
    assert t.finish_reason == "stop"
    t2 = a.stream_translator("gpt-4o", "r", include_usage=True)
    assert len(t2.feed(raw) + t2.finish()) == 4


def test_openai_in_stream_error():
    t = adapter_for(AiType.OPENAI).stream_translator("m", "r")
    out = t.feed(b'data: {"error":{"message":"boom","type":"server_error"}}\n\n') + t.finish()
    assert t.error is not None and t.error.retryable
    assert json.loads(out[-1][6:])["error"]["message"] == "boom"


# ---------------------------------------------------------------- Anthropic
def test_anthropic_request_mapping():
    a = adapter_for(AiType.ANTHROPIC)
    cfg = ProviderConfig("c", AiType.ANTHROPIC, "https://api.anthropic.com", None, "sk-ant")
    req = a.chat_request(
        cfg,
        "claude-sonnet-4-20250514",
        {"messages": CONV, "tools": TOOLS, "tool_choice": "required", "stop": "END", "temperature": 1.5, "user": "u1"},
    )
    b = body_of(req)
    assert req.url == "https://api.anthropic.com/v1/messages"
    assert req.headers["x-api-key"] == "sk-ant" and req.headers["anthropic-version"] == "2023-06-01"
    assert b["system"] == "You are terse." and b["max_tokens"] == 4096
    assert [m["role"] for m in b["messages"]] == ["user", "assistant", "user"]
    assert b["messages"][0]["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"},
    }
    assert b["messages"][1]["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}
    ]
    assert b["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "call_1", "content": "18C"}]
    assert b["tools"][0]["input_schema"]["properties"] == {"city": {"type": "string"}}
    assert b["tool_choice"] == {"type": "any"} and b["stop_sequences"] == ["END"]
    assert b["temperature"] == 1.0 and b["metadata"] == {"user_id": "u1"}


def test_anthropic_response_mapping():
    a = adapter_for(AiType.ANTHROPIC)
    payload = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-20250514",
        "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 10,
            "cache_read_input_tokens": 5,
            "cache_creation_input_tokens": 2,
            "output_tokens": 20,
        },
    }
    comp, usage = a.chat_response(200, json.dumps(payload).encode(), "claude-sonnet-4", request_id="r1")
    m = comp["choices"][0]["message"]
    assert m["content"] == "Let me check." and comp["choices"][0]["finish_reason"] == "tool_calls"
    assert m["tool_calls"] == [
        {"id": "toolu_01", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
    ]
    assert (usage.tokens_in, usage.tokens_out, usage.cached_tokens) == (17, 20, 5)


ANTHROPIC_STREAM = b"""event: message_start
data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-20250514","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Okay"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"city\\": \\"Pa"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ris\\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}

event: message_stop
data: {"type":"message_stop"}

"""


def test_anthropic_stream_text_and_tool_deltas():
    t = adapter_for(AiType.ANTHROPIC).stream_translator("claude", "rid")
    out = [x for i in range(0, len(ANTHROPIC_STREAM), 11) for x in t.feed(ANTHROPIC_STREAM[i : i + 11])] + t.finish()
    chunks = lines_to_chunks(out)
    assert out[-1] == b"data: [DONE]\n\n"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[1]["choices"][0]["delta"] == {"content": "Okay"}
    assert chunks[2]["choices"][0]["delta"]["tool_calls"][0] == {
        "index": 0,
        "id": "toolu_01T1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    args = "".join(c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] for c in chunks[3:5])
    assert json.loads(args) == {"city": "Paris"}
    assert chunks[5]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[6]["choices"] == [] and chunks[6]["usage"]["prompt_tokens"] == 25
    assert chunks[6]["usage"]["completion_tokens"] == 89
    assert all(c["id"] == "chatcmpl-rid" for c in chunks)


def test_anthropic_stream_error_event():
    t = adapter_for(AiType.ANTHROPIC).stream_translator("claude", "rid")
    out = t.feed(b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n')
    out += t.finish()
    assert t.error.status == 529 and t.error.retryable
    assert json.loads(out[-1][6:])["error"]["message"] == "Overloaded"


@pytest.mark.parametrize("ai_type", [AiType.ANTHROPIC, AiType.GOOGLE])
@pytest.mark.parametrize("data", [b"[1]", b'"text"', b"42"])
def test_stream_event_that_is_not_an_object_ends_in_an_error(ai_type, data):
    t = adapter_for(ai_type).stream_translator("m", "rid")
    out = t.feed(b"data: " + data + b"\n\n")
    out += t.finish()
    assert t.error is not None and t.error.status == 502
    assert "error" in json.loads(out[-1][6:])


# ---------------------------------------------------------------- Google
def test_google_request_mapping():
    a = adapter_for(AiType.GOOGLE)
    cfg = ProviderConfig("c", AiType.GOOGLE, "https://generativelanguage.googleapis.com", None, "AIza")
    req = a.chat_request(
        cfg,
        "gemini-2.0-flash",
        {
            "messages": CONV,
            "tools": TOOLS,
            "stream": True,
            "max_tokens": 50,
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "response_format": {"type": "json_object"},
        },
    )
    b = body_of(req)
    assert (
        req.url
        == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    )
    assert req.headers["x-goog-api-key"] == "AIza"
    assert b["systemInstruction"] == {"parts": [{"text": "You are terse."}]}
    assert [c["role"] for c in b["contents"]] == ["user", "model", "user"]
    assert b["contents"][0]["parts"][1] == {"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}}
    assert b["contents"][1]["parts"] == [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]
    assert b["contents"][2]["parts"] == [{"functionResponse": {"name": "get_weather", "response": {"content": "18C"}}}]
    decl = b["tools"][0]["functionDeclarations"][0]
    assert decl["name"] == "get_weather" and "additionalProperties" not in decl["parameters"]
    assert b["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}
    assert b["generationConfig"] == {"maxOutputTokens": 50, "responseMimeType": "application/json"}


def test_google_response_mapping():
    payload = {
        "candidates": [
            {
                "content": {
                    "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}],
                    "role": "model",
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 12,
            "candidatesTokenCount": 5,
            "thoughtsTokenCount": 3,
            "totalTokenCount": 20,
            "cachedContentTokenCount": 4,
        },
        "modelVersion": "gemini-2.0-flash",
    }
    comp, usage = adapter_for(AiType.GOOGLE).chat_response(200, json.dumps(payload).encode(), "gemini-2.0-flash")
    ch = comp["choices"][0]
    assert ch["finish_reason"] == "tool_calls" and ch["message"]["content"] is None
    assert json.loads(ch["message"]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert (usage.tokens_in, usage.tokens_out, usage.cached_tokens) == (12, 8, 4)
    blocked = {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3},
    }
    comp2, _ = adapter_for(AiType.GOOGLE).chat_response(200, json.dumps(blocked).encode(), "g")
    assert comp2["choices"][0]["finish_reason"] == "content_filter"


def test_google_stream_sse_crlf():
    raw = (
        b'data: {"candidates": [{"content": {"parts": [{"text": "Hel"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 4,"totalTokenCount": 4}}\r\n\r\n'
        b'data: {"candidates": [{"content": {"parts": [{"text": "lo"}],"role": "model"},"finishReason": "MAX_TOKENS","index": 0}],"usageMetadata": {"promptTokenCount": 4,"candidatesTokenCount": 2,"totalTokenCount": 6}}\r\n\r\n'
    )
    t = adapter_for(AiType.GOOGLE).stream_translator("g", "r", include_usage=False)
    out = [x for i in range(0, len(raw), 3) for x in t.feed(raw[i : i + 3])] + t.finish()
    chunks = lines_to_chunks(out)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Hello"
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert (t.usage.tokens_in, t.usage.tokens_out) == (4, 2)


# ---------------------------------------------------------------- Bedrock
def test_bedrock_request_mapping_and_signature():
    a = adapter_for(AiType.AWS)
    cfg = ProviderConfig("c", AiType.AWS, "", "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "eu-west-1")
    req = a.chat_request(
        cfg,
        "anthropic.claude-3-haiku-20240307-v1:0",
        {"messages": CONV, "tools": TOOLS, "tool_choice": "auto", "max_tokens": 100, "top_p": 0.9},
        now=NOW,
    )
    assert req.url == (
        "https://bedrock-runtime.eu-west-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    )
    assert req.headers["X-Amz-Date"] == "20240115T103000Z"
    assert req.headers["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240115/eu-west-1/bedrock/aws4_request, "
        "SignedHeaders=accept;content-type;host;x-amz-date, Signature="
    )
    # pure: same inputs, same signature
    assert (
        a.chat_request(
            cfg,
            "anthropic.claude-3-haiku-20240307-v1:0",
            {"messages": CONV, "tools": TOOLS, "tool_choice": "auto", "max_tokens": 100, "top_p": 0.9},
            now=NOW,
        ).headers
        == req.headers
    )
    b = body_of(req)
    assert b["system"] == [{"text": "You are terse."}]
    assert b["messages"][0]["content"] == [
        {"text": "Weather in Paris?"},
        {"image": {"format": "png", "source": {"bytes": "iVBORw0K"}}},
    ]
    assert b["messages"][1]["content"] == [
        {"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}}
    ]
    assert b["messages"][2]["content"] == [{"toolResult": {"toolUseId": "call_1", "content": [{"text": "18C"}]}}]
    assert b["inferenceConfig"] == {"maxTokens": 100, "topP": 0.9}
    assert b["toolConfig"]["toolChoice"] == {"auto": {}}
    assert b["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["type"] == "object"


def test_bedrock_response_mapping():
    payload = {
        "output": {"message": {"role": "assistant", "content": [{"text": "Hi there"}]}},
        "stopReason": "max_tokens",
        "usage": {
            "inputTokens": 30,
            "outputTokens": 5,
            "totalTokens": 35,
            "cacheReadInputTokens": 10,
            "cacheWriteInputTokens": 0,
        },
        "metrics": {"latencyMs": 300},
    }
    comp, usage = adapter_for(AiType.AWS).chat_response(200, json.dumps(payload).encode(), "m")
    assert comp["choices"][0] == {
        "index": 0,
        "message": {"role": "assistant", "content": "Hi there", "refusal": None},
        "logprobs": None,
        "finish_reason": "length",
    }
    assert (usage.tokens_in, usage.tokens_out, usage.cached_tokens) == (40, 5, 10)


def test_eventstream_encoder_roundtrips_through_botocore():
    frames = event_frame("contentBlockDelta", b'{"contentBlockIndex":0,"delta":{"text":"h\xc3\xa9"},"p":"abc"}')
    frames += exception_frame("throttlingException", b'{"message":"slow down"}')
    buf = EventStreamBuffer()
    buf.add_data(frames)
    msgs = list(buf)
    assert msgs[0].headers == {
        ":event-type": "contentBlockDelta",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert json.loads(msgs[0].payload)["delta"]["text"] == "hé"
    assert msgs[1].headers[":exception-type"] == "throttlingException"


def test_bedrock_stream_translation_and_exception():
    frames = b"".join(
        [
            event_frame("messageStart", b'{"role":"assistant","p":"ab"}'),
            event_frame("contentBlockDelta", b'{"contentBlockIndex":0,"delta":{"text":"Sure"}}'),
            event_frame("contentBlockStop", b'{"contentBlockIndex":0}'),
            event_frame(
                "contentBlockStart",
                b'{"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"tooluse_1","name":"get_weather"}}}',
            ),
            event_frame("contentBlockDelta", b'{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\\"city\\":"}}}'),
            event_frame("contentBlockDelta", b'{"contentBlockIndex":1,"delta":{"toolUse":{"input":"\\"Paris\\"}"}}}'),
            event_frame("messageStop", b'{"stopReason":"tool_use"}'),
            event_frame(
                "metadata", b'{"usage":{"inputTokens":7,"outputTokens":9,"totalTokens":16},"metrics":{"latencyMs":5}}'
            ),
        ]
    )
    t = adapter_for(AiType.AWS).stream_translator("m", "r")
    out = [x for i in range(0, len(frames), 17) for x in t.feed(frames[i : i + 17])] + t.finish()
    chunks = lines_to_chunks(out)
    assert chunks[1]["choices"][0]["delta"] == {"content": "Sure"}
    tc = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c.get("choices") and "tool_calls" in c["choices"][0]["delta"]
    ]
    assert tc[0]["id"] == "tooluse_1" and json.loads("".join(x["function"]["arguments"] for x in tc)) == {
        "city": "Paris"
    }
    assert [
        c["choices"][0]["finish_reason"] for c in chunks if c.get("choices") and c["choices"][0]["finish_reason"]
    ] == ["tool_calls"]
    assert chunks[-1]["usage"]["total_tokens"] == 16
    t2 = adapter_for(AiType.AWS).stream_translator("m", "r")
    t2.feed(
        event_frame("messageStart", b'{"role":"assistant"}')
        + exception_frame("throttlingException", b'{"message":"Too many"}')
    )
    tail = t2.finish()
    assert t2.error.status == 429 and t2.error.retryable and b"Too many" in tail[-1]
    t3 = adapter_for(AiType.AWS).stream_translator("m", "r")
    bad = bytearray(event_frame("messageStart", b'{"role":"assistant"}'))
    bad[-1] ^= 0xFF
    t3.feed(bytes(bad))
    assert t3.error is not None and t3.error.status == 502
