"""Embeddings parity: a list input to a one-input model (Titan on Bedrock) is split into one provider
call per input and merged in order, not refused; still one event with the summed tokens."""

from __future__ import annotations

import openai
import pytest

from fakeupstream import rules

MODEL = "amazon.titan-embed-text-v2:0"
PATH = f"/model/{MODEL}/invoke"


@pytest.fixture(autouse=True)
def _clean(gw):
    gw.fake.control.reset()
    gw.gw.gateway.breakers._states.clear()
    yield
    gw.fake.control.reset()


def test_list_input_to_titan_is_split_and_merged_in_order(gw) -> None:
    inputs = ["one two", "three", "four five six"]
    raw = gw.client("all").embeddings.with_raw_response.create(model=MODEL, input=inputs)
    resp = raw.parse()
    assert [d.index for d in resp.data] == [0, 1, 2]
    assert [d.embedding for d in resp.data] == [pytest.approx(rules.embedding(t), abs=1e-6) for t in inputs]
    assert resp.usage.prompt_tokens == 6 and gw.fake.control.count(PATH) == 3
    evs = gw.gw.publisher.wait_for(raw.headers["x-request-id"])
    assert len(evs) == 1 and evs[0].endpoint == "embeddings" and evs[0].ai_type == "AWS"
    assert (evs[0].tokens_in, evs[0].usage_source) == (6, "provider")


def test_one_refused_part_fails_the_call(gw) -> None:
    gw.fake.control.fail(400, family="bedrock", count=1, message="bad input")
    with pytest.raises(openai.BadRequestError):
        gw.client("all").embeddings.create(model=MODEL, input=["a", "b"])
