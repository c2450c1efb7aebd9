"""`/user`: login, refresh (rotating), logout, create (org OWNER/ADMINISTRATORS), me."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.deps import CurrentUser, Db, OrgAdmin
from api.errors import ApiError
from api.security import decode_claims, new_token
from api.throttle import LoginThrottle
from schemas.enums import OrgRole
from store import refreshtokens
from store.bootstrap import MAX_ACCOUNTS_PER_EMAIL, EmailInUse, create_user, normalize_email
from store.models import User
from store.passwords import hash_password, verify_password

router = APIRouter(tags=["users"])

_LOGIN_FAILED = "Invalid email or password"
# Verified against when the email is unknown, so both failures take the same time.
_DUMMY_HASH = hash_password("tollgate-timing-equalizer")


class LoginBody(BaseModel):
    """`orgId` is needed only when the email and password open accounts in several orgs."""

    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)
    orgId: str | None = Field(default=None, min_length=1, max_length=64)


class RefreshBody(BaseModel):
    """`refreshToken`, or `refresh_token` as the Flashback client's `userRefresh` sends it."""

    model_config = ConfigDict(populate_by_name=True)
    refreshToken: str = Field(
        min_length=1, max_length=4096, validation_alias=AliasChoices("refreshToken", "refresh_token")
    )


class CreateUserBody(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=8, max_length=1024)
    name: str = Field(min_length=1, max_length=200)
    orgRole: OrgRole = OrgRole.USER

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        v = normalize_email(v)
        local, at, domain = v.partition("@")
        if not at or not local or "." not in domain or " " in v:
            raise ValueError("must be an email address")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v.strip()


class UpdateUserBody(BaseModel):
    """The Flashback client's UserUpdateRequest. `lastName` is accepted and ignored (a user has
    one `name`); at least one field must be sent."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    lastName: str | None = Field(default=None, max_length=200)
    password: str | None = Field(default=None, min_length=8, max_length=1024)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be blank")
        return v.strip() if v is not None else None


def user_dto(user: User) -> dict:
    return {"id": user.id, "email": user.email, "name": user.name, "orgId": user.org_id, "orgRole": user.org_role}


async def _token_answer(request: Request, db: Db, user: User, family_id: str | None = None) -> dict:
    """The Flashback client's LoginResponse: `accessToken` (= `token`, kept for older callers),
    `expiresAt` in epoch milliseconds, and `tokenId`, the id (jti) of the access token.

    The refresh token is recorded (in `family_id`, or a new family for a login) and committed."""
    s = request.app.state.settings
    access, claims = new_token(s.jwt_secret_bytes, user.id, "access", s.access_token_ttl_s)
    refresh, rclaims = new_token(s.jwt_secret_bytes, user.id, "refresh", s.refresh_token_ttl_s)
    await refreshtokens.record(
        db,
        user_id=user.id,
        jti=rclaims["jti"],
        expires_at=datetime.fromtimestamp(rclaims["exp"], UTC),
        family_id=family_id,
    )
    await db.commit()
    return {
        "success": True,
        "accessToken": access,
        "token": access,
        "refreshToken": refresh,
        "expiresIn": s.access_token_ttl_s,
        "expiresAt": claims["exp"] * 1000,
        "tokenId": claims["jti"],
        "user": user_dto(user),
    }


def _throttle(request: Request) -> LoginThrottle:
    t = getattr(request.app.state, "login_throttle", None)
    if t is None:
        t = request.app.state.login_throttle = LoginThrottle()
    return t


_AMBIGUOUS = "This email and password open accounts in several organizations: send orgId to choose one"


async def _opened_by(accounts: list[User], password: str) -> list[User]:
    """The accounts the password opens. No account: one check against a dummy hash, so an
    unknown email takes as long as a known one (normally one account per email)."""
    if not accounts:
        await asyncio.to_thread(verify_password, _DUMMY_HASH, password)
        return []
    return [u for u in accounts if await asyncio.to_thread(verify_password, u.password_hash, password)]


@router.post("/user/login")
async def login(body: LoginBody, request: Request, db: Db) -> dict:
    email = normalize_email(body.email)
    addr = request.client.host if request.client else "unknown"
    throttle = _throttle(request)
    wait = throttle.wait_s(email, addr)
    if wait > 0:
        raise ApiError(429, f"Too many failed sign-ins; try again in {wait} s", {"Retry-After": str(wait)})
    query = select(User).where(User.email == email)
    if body.orgId is not None:
        query = query.where(User.org_id == body.orgId)
    accounts = await db.scalars(query.order_by(User.created_at, User.id).limit(MAX_ACCOUNTS_PER_EMAIL))
    matches = await _opened_by(list(accounts), body.password)
    if not matches:
        throttle.failed(email, addr)
        raise ApiError(401, _LOGIN_FAILED)
    if len(matches) > 1:
        raise ApiError(409, _AMBIGUOUS)
    user = matches[0]
    throttle.succeeded(email, addr)
    await refreshtokens.prune(db)
    return await _token_answer(request, db, user)


_REFRESH_FAILED = "Invalid or expired refresh token"


@router.post("/user/refresh")
async def refresh(body: RefreshBody, request: Request, db: Db) -> dict:
    """Single use: answers a new refresh token and retires the one sent. A retired token sent
    again means it leaked: its whole family (every token from the same login) is revoked."""
    claims = decode_claims(request.app.state.settings.jwt_secret_bytes, body.refreshToken, "refresh")
    if claims is None:
        raise ApiError(401, _REFRESH_FAILED)
    got = await refreshtokens.rotate(db, claims["jti"])
    user = await db.get(User, got.user_id) if got.user_id else None
    if user is None or got.family_id is None:
        await db.rollback()
        raise ApiError(401, _REFRESH_FAILED)
    return await _token_answer(request, db, user, got.family_id)


@router.post("/user/logout")
async def logout(body: RefreshBody, request: Request, db: Db) -> dict:
    """Revokes the refresh token's family. The same answer whether or not the token was known,
    live or expired (no oracle); only a malformed body is refused (400)."""
    claims = decode_claims(request.app.state.settings.jwt_secret_bytes, body.refreshToken, "refresh", verify_exp=False)
    if claims is not None:
        await refreshtokens.revoke_by_jti(db, claims["jti"])
    return {"success": True, "message": "Logged out"}


@router.post("/user", status_code=201)
async def create(body: CreateUserBody, who: OrgAdmin, db: Db) -> dict:
    if body.orgRole == OrgRole.OWNER and who.org_role != OrgRole.OWNER.value:
        raise ApiError(403, "Only an OWNER can create another OWNER")
    try:
        user = await create_user(
            db, email=body.email, password=body.password, name=body.name, org_role=body.orgRole, org_id=who.org_id
        )
        await db.commit()
    except (EmailInUse, IntegrityError):
        await db.rollback()
        raise ApiError(409, "A user with this email already exists") from None  # in the org, or the bound
    return {"success": True, "user": user_dto(user)}


@router.get("/user/me")
async def me(who: CurrentUser, db: Db) -> dict:
    user = await db.get(User, who.user_id)
    assert user is not None
    return {"success": True, "user": user_dto(user)}


@router.put("/user/{user_id}")
async def update(user_id: str, body: UpdateUserBody, who: CurrentUser, db: Db) -> dict:
    """A user updates themself; an org OWNER/ADMINISTRATORS updates users of their own org (only
    an OWNER updates an OWNER). Other orgs' users are 404. A new password revokes every refresh
    token of the user (sessions elsewhere end when their access token expires)."""
    user = await db.get(User, user_id)
    if user is None or user.org_id != who.org_id:
        raise ApiError(404, "User not found")
    if user.id != who.user_id:
        if not who.org_wide:
            raise ApiError(403, "This action needs the OWNER or ADMINISTRATORS org role")
        if user.org_role == OrgRole.OWNER.value and who.org_role != OrgRole.OWNER.value:
            raise ApiError(403, "Only an OWNER can update another OWNER")
    if body.name is None and body.password is None and body.lastName is None:
        raise ApiError(400, "Nothing to update: send name or password")
    if body.name is not None:
        user.name = body.name
    if body.password is not None:
        user.password_hash = await asyncio.to_thread(hash_password, body.password)
        await refreshtokens.revoke_user(db, user.id)
    await db.commit()
    return {"success": True, "message": "User updated"}
