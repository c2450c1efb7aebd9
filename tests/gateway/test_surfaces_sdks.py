"""Whole-client sequences through the live gateway: the OpenAI Agents SDK (an Agent with a function
tool, default model settings) and a request sequence shaped like Claude Code's, on every family
and an OTHER chat-only endpoint; afterwards the events match the SDKs' usage exactly."""

from __future__ import annotations

import asyncio
import time

import anthropic
import pytest
from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI

from fakeupstream.rules import REPLY_PREFIX

set_tracing_disabled(True)

TARGETS = [
    ("all", "gpt-4o-mini", "OPENAI"),
    ("all", "claude-sonnet-4-20250514", "ANTHROPIC"),
    ("all", "gemini-2.0-flash", "GOOGLE"),
    ("all", "anthropic.claude-3-haiku-20240307-v1:0", "AWS"),
    ("other", "gpt-4o-mini", "OTHER"),
]
IDS = [t[2] for t in TARGETS]


@pytest.fixture(autouse=True)
def _clean(gw):
    gw.fake.control.reset()
    gw.gw.gateway.breakers._states.clear()
    yield


def events_since(env, mark: int, repo: str, count: int, timeout: float = 5.0) -> list:
    """The request events of `repo`'s key after `mark`, once `count` arrived (then a beat for extras)."""
    end = time.monotonic() + timeout
    while True:
        evs = [e for _, _, e in env.gw.publisher.items[mark:] if e.repo_ai_api_key_id == env.key_ids[repo]]
        if len(evs) >= count or time.monotonic() > end:
            time.sleep(0.1)
            return [e for _, _, e in env.gw.publisher.items[mark:] if e.repo_ai_api_key_id == env.key_ids[repo]]
        time.sleep(0.02)


@function_tool
def get_weather(query: str) -> str:
    """The weather in a city."""
    return f"sunny in {query}"


@pytest.mark.parametrize("repo,model,ai_type", TARGETS, ids=IDS)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_openai_agents_sdk_agent_with_a_function_tool(gw, repo, model, ai_type, stream) -> None:
    client = AsyncOpenAI(base_url=gw.gw.url, api_key=gw.keys[repo], max_retries=0)
    agent = Agent(
        name="weather",
        instructions="You answer weather questions.",
        tools=[get_weather],
        model=OpenAIResponsesModel(model=model, openai_client=client),
    )
    mark = len(gw.gw.publisher.items)
    if stream:

        async def run():
            r = Runner.run_streamed(agent, "please call get_weather Paris")
            async for _ in r.stream_events():
                pass
            return r

        result = asyncio.run(run())
    else:
        result = Runner.run_sync(agent, "please call get_weather Paris")
    assert result.final_output == REPLY_PREFIX + "sunny in Paris"  # the tool ran, its output came back
    usages = [r.usage for r in result.raw_responses]
    assert len(usages) == 2  # the tool call, then the answer
    evs = events_since(gw, mark, repo, 2)
    assert len(evs) == 2 and {e.endpoint for e in evs} == {"responses"} and {e.ai_type for e in evs} == {ai_type}
    assert sum(e.tokens_in for e in evs) == sum(u.input_tokens for u in usages)
    assert sum(e.tokens_out for e in evs) == sum(u.output_tokens for u in usages)
    assert all(e.status == "ok" and e.stream == stream for e in evs)


def _claude_code_tools(n: int = 12) -> list[dict]:
    tools = [
        {
            "name": f"Tool{i}",
            "description": f"tool number {i} " * 8,
            "input_schema": {
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
                "additionalProperties": False,
                "$schema": "http://json-schema.org/draft-07/schema#",
            },
        }
        for i in range(n)
    ]
    tools.append(
        {
            "name": "Read",
            "description": "Reads a file",
            "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}},
        }
    )
    return tools


@pytest.mark.parametrize("repo,model,ai_type", TARGETS, ids=IDS)
@pytest.mark.parametrize("bearer", [False, True], ids=["x-api-key", "auth-token"])
def test_claude_code_shaped_sequence(gw, repo, model, ai_type, bearer) -> None:
    """Quota probe, token count, a streamed turn with a system prompt in cached blocks and many
    tools that ends in a tool call, then the tool_result turn; beta headers and metadata as sent."""
    base = gw.gw.url[:-3]
    kw = {"auth_token": gw.keys[repo], "api_key": None} if bearer else {"api_key": gw.keys[repo]}
    c = anthropic.Anthropic(
        base_url=base,
        max_retries=0,
        timeout=20.0,
        default_headers={
            "anthropic-beta": "claude-code-20250219,fine-grained-tool-streaming-2025-05-14",
            "x-app": "cli",
        },
        **kw,
    )
    system = [
        {"type": "text", "text": "You are Claude Code, a CLI for coding."},
        {"type": "text", "text": "Use the tools when asked.", "cache_control": {"type": "ephemeral"}},
    ]
    tools = _claude_code_tools()
    meta = {"user_id": "user_abc_account__session_0f0f"}
    mark = len(gw.gw.publisher.items)
    usages = []

    quota = c.messages.create(model=model, max_tokens=1, messages=[{"role": "user", "content": "quota"}], metadata=meta)
    usages.append(quota.usage)
    assert quota.stop_reason == "max_tokens" and quota.usage.output_tokens == 1

    msgs = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "please call Read src/main.py", "cache_control": {"type": "ephemeral"}}
            ],
        }
    ]
    counted = c.messages.count_tokens(model=model, system=system, tools=tools, messages=msgs).input_tokens
    assert counted > 0

    with c.messages.stream(
        model=model, max_tokens=32000, system=system, tools=tools, messages=msgs, metadata=meta
    ) as s:
        first = s.get_final_message()
    usages.append(first.usage)
    use = [b for b in first.content if b.type == "tool_use"]
    assert first.stop_reason == "tool_use" and use[0].name == "Read" and use[0].input == {"query": "src/main.py"}
    if ai_type == "ANTHROPIC":
        assert counted == first.usage.input_tokens  # Anthropic's own count, from the same body

    msgs += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": use[0].id, "content": [{"type": "text", "text": "print hello"}]}
            ],
        },
    ]
    with c.messages.stream(
        model=model, max_tokens=32000, system=system, tools=tools, messages=msgs, metadata=meta
    ) as s:
        text = "".join(s.text_stream)
        second = s.get_final_message()
    usages.append(second.usage)
    assert text == REPLY_PREFIX + "print hello" and second.stop_reason == "end_turn"
    sys_words = sum(len(b["text"].split()) for b in system)
    assert first.usage.input_tokens + (first.usage.cache_read_input_tokens or 0) == sys_words + 4
    assert second.usage.input_tokens + (second.usage.cache_read_input_tokens or 0) == sys_words + 4 + 2

    evs = events_since(gw, mark, repo, 4)
    assert [e.endpoint for e in evs] == ["messages", "messages.count_tokens", "messages", "messages"]
    calls = [e for e in evs if e.endpoint == "messages"]
    assert [e.stream for e in calls] == [False, True, True] and {e.ai_type for e in evs} == {ai_type}
    assert [e.tokens_in for e in calls] == [u.input_tokens + (u.cache_read_input_tokens or 0) for u in usages]
    assert [e.tokens_out for e in calls] == [u.output_tokens for u in usages]
    assert all(e.status == "ok" for e in evs) and all(e.user_id == meta["user_id"] for e in calls)
    if ai_type == "ANTHROPIC":
        sent = gw.fake.control.last_requests["anthropic"]
        assert sent["system"] == system and sent["metadata"] == meta and len(sent["tools"]) == len(tools)
    if ai_type == "AWS":  # Claude on Bedrock: the Messages body through InvokeModel
        sent = gw.fake.control.last_requests["bedrock"]
        assert sent["system"] == system and sent["anthropic_version"] == "bedrock-2023-05-31"
        assert "metadata" not in sent and "model" not in sent and len(sent["tools"]) == len(tools)
