"""Creating users outside the API: the first OWNER at start and `tollgate admin create-user`.

Both paths share `create_user`, which hashes the password (argon2, CPU-bound: run off the
event loop) and creates an org when none is given. An email is unique within its org; across
orgs it may have up to MAX_ACCOUNTS_PER_EMAIL accounts (login checks the password against each).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import Settings
from schemas.enums import OrgRole
from store.models import Org, User
from store.passwords import hash_password

log = logging.getLogger("tollgate.bootstrap")


# Bounds the password checks of one login. Past it, creation is refused with the same error as
# a duplicate in the org, so an org admin learns nothing about other orgs below the bound.
MAX_ACCOUNTS_PER_EMAIL = 10


class EmailInUse(Exception):
    """The email already belongs to a user of the org (or to MAX_ACCOUNTS_PER_EMAIL users)."""


def normalize_email(email: str) -> str:
    """Emails are compared case-insensitively; stored lower-cased and stripped."""
    return email.strip().lower()


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    name: str = "",
    org_role: OrgRole | str = OrgRole.USER,
    org_id: str | None = None,
    org_name: str | None = None,
) -> User:
    """Add a user (and a new org when `org_id` is None). Caller commits. Raises EmailInUse."""
    email = normalize_email(email)
    role = OrgRole(org_role).value
    orgs = list(await session.scalars(select(User.org_id).where(User.email == email).limit(MAX_ACCOUNTS_PER_EMAIL)))
    if org_id in orgs or len(orgs) >= MAX_ACCOUNTS_PER_EMAIL:
        raise EmailInUse(email)
    if org_id is None:
        org = Org(name=org_name or (name or email.split("@")[0]) + "'s organization")
        session.add(org)
        await session.flush()
        org_id = org.id
    pw_hash = await asyncio.to_thread(hash_password, password)
    user = User(org_id=org_id, email=email, name=name, password_hash=pw_hash, org_role=role)
    session.add(user)
    await session.flush()
    return user


async def ensure_first_owner(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> User | None:
    """Create an org and its OWNER from TOLLGATE_ADMIN_EMAIL/PASSWORD if no user exists yet.

    Returns the new user, or None when users exist or the settings are not given.
    """
    if not (settings.admin_email and settings.admin_password):
        return None
    async with sessionmaker() as session:
        if (await session.scalar(select(func.count()).select_from(User))) or 0:
            return None
        try:
            user = await create_user(
                session,
                email=settings.admin_email,
                password=settings.admin_password,
                name="Admin",
                org_role=OrgRole.OWNER,
                org_name="Default organization",
            )
            await session.commit()
        except Exception:  # a concurrent starter won the race: fine
            await session.rollback()
            log.info("first owner not created (another process did it)")
            return None
    log.info("created first OWNER %s", user.email)
    return user


async def default_org_id(session: AsyncSession) -> str | None:
    """The oldest org, used by the CLI when no org is named."""
    return await session.scalar(select(Org.id).order_by(Org.created_at, Org.id).limit(1))
