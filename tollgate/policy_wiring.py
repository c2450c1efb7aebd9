"""Composition for policy enforcement: joins producers.policy and consumers.policy_runner,
which may not import each other.

* `gateway_parts(rt)`: the gateway's policy hooks (rules + natural-language judge) and the
  decisions subscriber component (Kafka or in-process bus).
* `policy_consumer(settings, sessionmaker, bus)`: the policy consumer plus the snapshot
  refresher component it reads policies and judge configs from (start that one first).
* `run_policy_cli(settings)`: `tollgate consume policy` (blocks until SIGINT/SIGTERM).
"""

from __future__ import annotations

import asyncio
from typing import Any


class RefresherComponent:
    """The config snapshot (policies, judge configs) for a consumer process; polls the epoch."""

    name = "policy-snapshot"

    def __init__(self, sessionmaker: Any, seal_key: bytes, poll_s: float):
        from store.refresher import SnapshotRefresher

        self.refresher = SnapshotRefresher(sessionmaker, seal_key, poll_s)

    @property
    def snapshot(self) -> Any:
        return self.refresher.snapshot

    async def start(self) -> None:
        await self.refresher.start()

    async def stop(self) -> None:
        await self.refresher.stop()


def make_hooks(rt: Any) -> Any:
    from core.endpoints import EndpointGuard
    from producers.policy.budget_gate import BudgetGate
    from producers.policy.judge import Judge
    from producers.policy.leases import LeaseBank
    from producers.policy.nl import NlPolicyHooks

    return NlPolicyHooks(
        lambda: rt.publisher,
        rt.settings.resolved_gateway_id,
        judge=Judge(guard=EndpointGuard.from_settings(rt.settings)),
        max_scan_chars=rt.settings.policy_max_scan_chars,
        gate=BudgetGate(LeaseBank(rt.sessionmaker)),
        default_output_tokens=rt.settings.budget_default_output_tokens,
    )


def decisions_component(rt: Any, hooks: Any) -> Any:
    from producers.policy.decisions import DecisionSubscriber

    return DecisionSubscriber(rt.settings, hooks, bus=rt.bus)


def policy_consumer(settings: Any, sessionmaker: Any, bus: Any = None, **kw: Any) -> tuple[Any, RefresherComponent]:
    from consumers.policy_runner import PolicyConsumer
    from producers.policy.judge import Judge
    from producers.policy.nl import compile_snapshot_policies, judge_prompt_event

    snap = RefresherComponent(sessionmaker, settings.secret_key_bytes, settings.snapshot_poll_s)
    from core.endpoints import EndpointGuard

    judge = Judge(guard=EndpointGuard.from_settings(settings))

    async def prompt_judge(ev: Any, snapshot: Any, policies: Any) -> list:
        return await judge_prompt_event(ev, snapshot, judge, policies)

    consumer = PolicyConsumer(
        settings,
        snapshot_getter=lambda: snap.snapshot,
        compile_policies=compile_snapshot_policies,
        prompt_judge=prompt_judge,
        bus=bus,
        **kw,
    )
    return consumer, snap


def run_policy_cli(settings: Any) -> None:
    """`tollgate consume policy`: migrations are the API's job; this only reads the store."""
    from consumers.policy_runner import run_policy
    from store.db import make_engine, make_sessionmaker

    async def make(s: Any) -> tuple[Any, list[Any]]:
        engine = make_engine(s.sqlalchemy_url)
        consumer, snap = policy_consumer(s, make_sessionmaker(engine))
        return consumer, [snap]

    asyncio.run(run_policy(settings, make_consumer=make))
