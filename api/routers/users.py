"""`/user`: login, refresh, create (org OWNER/ADMINISTRATORS), me."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.deps import CurrentUser, Db, OrgAdmin
from api.errors import ApiError
from api.security import decode_token, issue_token, token_claims
from api.throttle import LoginThrottle
from schemas.enums import OrgRole
from store.bootstrap import EmailInUse, create_user, normalize_email
from store.models import User
from store.passwords import hash_password, verify_password

router = APIRouter(tags=["users"])

_LOGIN_FAILED = "Invalid email or password"
# Verified against when the email is unknown, so both failures take the same time.
_DUMMY_HASH = hash_password("tollgate-timing-equalizer")


class LoginBody(BaseModel):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


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


def user_dto(user: User) -> dict:
    return {"id": user.id, "email": user.email, "name": user.name, "orgId": user.org_id, "orgRole": user.org_role}


def _token_answer(request: Request, user: User) -> dict:
    """The Flashback client's LoginResponse: `accessToken` (= `token`, kept for older callers),
    `expiresAt` in epoch milliseconds, and `tokenId`, the id (jti) of the access token."""
    s = request.app.state.settings
    access = issue_token(s.jwt_secret_bytes, user.id, "access", s.access_token_ttl_s)
    claims = token_claims(s.jwt_secret_bytes, access)
    return {
        "success": True,
        "accessToken": access,
        "token": access,
        "refreshToken": issue_token(s.jwt_secret_bytes, user.id, "refresh", s.refresh_token_ttl_s),
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


@router.post("/user/login")
async def login(body: LoginBody, request: Request, db: Db) -> dict:
    email = normalize_email(body.email)
    addr = request.client.host if request.client else "unknown"
    throttle = _throttle(request)
    wait = throttle.wait_s(email, addr)
    if wait > 0:
        raise ApiError(429, f"Too many failed sign-ins; try again in {wait} s", {"Retry-After": str(wait)})
    user = await db.scalar(select(User).where(User.email == email))
    stored = user.password_hash if user is not None else _DUMMY_HASH
    ok = await asyncio.to_thread(verify_password, stored, body.password)
    if user is None or not ok:
        throttle.failed(email, addr)
        raise ApiError(401, _LOGIN_FAILED)
    throttle.succeeded(email, addr)
    return _token_answer(request, user)


@router.post("/user/refresh")
async def refresh(body: RefreshBody, request: Request, db: Db) -> dict:
    user_id = decode_token(request.app.state.settings.jwt_secret_bytes, body.refreshToken, "refresh")
    user = await db.get(User, user_id) if user_id else None
    if user is None:
        raise ApiError(401, "Invalid or expired refresh token")
    return _token_answer(request, user)


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
        raise ApiError(409, "A user with this email already exists") from None
    return {"success": True, "user": user_dto(user)}


@router.get("/user/me")
async def me(who: CurrentUser, db: Db) -> dict:
    user = await db.get(User, who.user_id)
    assert user is not None
    return {"success": True, "user": user_dto(user)}
