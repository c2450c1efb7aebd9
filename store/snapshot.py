"""The gateway's in-memory view of the config store, loaded in one go from SQL.

Why: the gateway must not query the database per request. It polls `current_epoch` and calls
`load_snapshot` when the epoch moves (see `store.refresher`). Everything here is
immutable once built, so request handlers read it without locks and a reload is one
reference swap.

`load_snapshot` blocks on the database (a few SELECTs) and decrypts provider secrets; call it
off the hot path. Secrets live only in memory inside `ConfigEntry` (repr hides them).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pricing.overrides import PriceOverrides
from store.epoch import current_epoch
from store.models import AiLlm, Policy, Repo, RepoAiLlm, RepoApiKey, Workspace
from store.sealing import SealError, unseal

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    """One provider configuration with its secrets opened (never logged: repr=False)."""

    ai_llm_id: str
    org_id: str
    workspace_id: str
    name: str
    ai_type: str
    endpoint: str
    region: str | None
    updated_at: datetime | None
    key: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)
    prices: PriceOverrides | None = field(default=None, repr=False, compare=False)  # overrides

    @property
    def version(self) -> tuple[str, str, datetime | None]:
        """Changes whenever the config's endpoint/credentials may have changed (cache key)."""
        return (self.ai_llm_id, self.endpoint, self.updated_at)


@dataclass(frozen=True, slots=True)
class RepoEntry:
    repo_id: str
    org_id: str
    workspace_id: str
    name: str
    disabled: bool
    configs: tuple[ConfigEntry, ...]  # fallback order


@dataclass(frozen=True, slots=True)
class KeyEntry:
    key_id: str
    name: str
    repo: RepoEntry


@dataclass(frozen=True, slots=True)
class PolicyEntry:
    """A policy as plain data, for the gateway's in-memory pre-checks."""

    policy_id: str
    org_id: str
    workspace_id: str | None
    repo_id: str | None
    name: str
    content: str
    risk_type: str
    action_type: int
    rule: dict | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    epoch: int
    keys_by_hash: dict[str, KeyEntry]
    repos: dict[str, RepoEntry]
    configs: dict[str, ConfigEntry]
    policies: tuple[PolicyEntry, ...] = ()
    workspaces: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> Snapshot:
        return cls(epoch=-1, keys_by_hash={}, repos={}, configs={})


def _open(seal_key: bytes, blob: bytes | None, aad: str) -> str | None:
    if blob is None:
        return None
    return unseal(seal_key, blob, aad)


def _prices(ai_llm_id: str, stored: dict | None) -> PriceOverrides | None:
    if not stored:
        return None
    try:
        return PriceOverrides(stored)
    except (ValueError, TypeError, ArithmeticError):
        log.warning("config %s: stored price overrides are invalid; ignored", ai_llm_id)
        return None


async def load_snapshot(session: AsyncSession, seal_key: bytes) -> Snapshot:
    """Read every live key, repo, config and policy. Blocks on the DB; not for the hot path.

    The epoch is read first: a change committed while we read makes the next poll reload
    again, so the snapshot is never older than the epoch it claims.
    """
    epoch = await current_epoch(session)

    configs: dict[str, ConfigEntry] = {}
    for row in (await session.execute(select(AiLlm))).scalars():
        try:
            key = _open(seal_key, row.key_sealed, row.id)
            secret = _open(seal_key, row.secret_sealed, row.id)
        except SealError:
            log.warning("config %s: sealed credentials could not be opened; skipped", row.id)
            continue
        configs[row.id] = ConfigEntry(
            ai_llm_id=row.id,
            org_id=row.org_id,
            workspace_id=row.workspace_id,
            name=row.name,
            ai_type=row.ai_type,
            endpoint=(row.endpoint or "").rstrip("/"),
            region=row.region,
            updated_at=row.updated_at,
            key=key,
            secret=secret,
            prices=_prices(row.id, row.prices),
        )

    links: dict[str, list[tuple[int, str]]] = {}
    for link in (await session.execute(select(RepoAiLlm))).scalars():
        links.setdefault(link.repo_id, []).append((link.position, link.ai_llm_id))

    repos: dict[str, RepoEntry] = {}
    for row in (await session.execute(select(Repo))).scalars():
        ordered = sorted(links.get(row.id, []))
        repos[row.id] = RepoEntry(
            repo_id=row.id,
            org_id=row.org_id,
            workspace_id=row.workspace_id,
            name=row.name,
            disabled=bool(row.disabled),
            configs=tuple(configs[c] for _, c in ordered if c in configs),
        )

    keys: dict[str, KeyEntry] = {}
    stmt = select(RepoApiKey).where(RepoApiKey.deleted_at.is_(None))
    for row in (await session.execute(stmt)).scalars():
        repo = repos.get(row.repo_id)
        if repo is not None:
            keys[row.secret_hash] = KeyEntry(key_id=row.id, name=row.name, repo=repo)

    policies = tuple(
        PolicyEntry(
            policy_id=p.id,
            org_id=p.org_id,
            workspace_id=p.workspace_id,
            repo_id=p.repo_id,
            name=p.name,
            content=p.content or "",
            risk_type=p.risk_type,
            action_type=int(p.action_type or 0),
            rule=p.rule,
        )
        for p in (await session.execute(select(Policy))).scalars()
    )
    workspaces = {
        w.id: {"id": w.id, "orgId": w.org_id, "judgeAiLlmId": w.judge_ai_llm_id, "judgeModel": w.judge_model}
        for w in (await session.execute(select(Workspace))).scalars()
    }
    return Snapshot(
        epoch=epoch,
        keys_by_hash=keys,
        repos=repos,
        configs=configs,
        policies=policies,
        workspaces=workspaces,
    )
