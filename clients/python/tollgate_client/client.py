"""`TollgateClient` (sync) and `AsyncTollgateClient` (asyncio) on httpx: the operations of
`operations.py`, bound once to both. Sync calls block on the network; async ones do not."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, ParamSpec, TypeVar, overload

import httpx

from . import operations as ops
from .calls import Call
from .errors import TollgateError

P = ParamSpec("P")
R = TypeVar("R")


def _headers(api_key: str | None, extra: dict[str, str] | None) -> dict[str, str]:
    headers = {"accept": "application/json", **(extra or {})}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    return headers


def _answer(call: Call[R], response: httpx.Response) -> R:
    try:
        body: Any = response.json() if response.content else None
    except ValueError:
        body = response.text
    if response.is_error:
        raise TollgateError(response.status_code, body)
    return call.pick(body) if call.pick else body


class Operation(Generic[P, R]):
    """Binds one operation to the client it is read from: a plain call on `TollgateClient`, a
    coroutine on `AsyncTollgateClient`."""

    def __init__(self, build: Callable[P, Call[R]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, client: AsyncTollgateClient, owner: type | None = None) -> Callable[P, Awaitable[R]]: ...

    @overload
    def __get__(self, client: TollgateClient, owner: type | None = None) -> Callable[P, R]: ...

    def __get__(self, client: Any, owner: type | None = None) -> Any:
        build = self.build

        def bound(*args: P.args, **kwargs: P.kwargs) -> Any:
            return client._send(build(*args, **kwargs))

        bound.__name__ = build.__name__
        bound.__doc__ = build.__doc__
        return bound


class _Operations:
    """Every operation, once. Names follow the Flashback client's (snake_case)."""

    health = Operation(ops.health)
    user_login = Operation(ops.user_login)
    user_refresh = Operation(ops.user_refresh)
    user_logout = Operation(ops.user_logout)
    update_user = Operation(ops.update_user)
    get_me = Operation(ops.get_me)
    create_user = Operation(ops.create_user)
    create_api_token = Operation(ops.create_api_token)
    get_api_tokens = Operation(ops.get_api_tokens)
    revoke_api_token = Operation(ops.revoke_api_token)

    create_workspace = Operation(ops.create_workspace)
    get_workspaces = Operation(ops.get_workspaces)
    get_workspace = Operation(ops.get_workspace)
    update_workspace = Operation(ops.update_workspace)
    delete_workspace = Operation(ops.delete_workspace)
    add_user_to_workspace = Operation(ops.add_user_to_workspace)
    update_workspace_user_role = Operation(ops.update_workspace_user_role)
    remove_user_from_workspace = Operation(ops.remove_user_from_workspace)

    create_ai_llm = Operation(ops.create_ai_llm)
    get_ai_llms = Operation(ops.get_ai_llms)
    get_available_ai_llms = Operation(ops.get_available_ai_llms)
    update_ai_llm = Operation(ops.update_ai_llm)
    delete_ai_llm = Operation(ops.delete_ai_llm)
    validate_ai_llm = Operation(ops.validate_ai_llm)
    get_ai_llm_stats = Operation(ops.get_ai_llm_stats)

    create_repo = Operation(ops.create_repo)
    get_repos = Operation(ops.get_repos)
    get_repo = Operation(ops.get_repo)
    update_repo = Operation(ops.update_repo)
    delete_repo = Operation(ops.delete_repo)
    create_repo_ai_api_key = Operation(ops.create_repo_ai_api_key)
    get_repo_ai_api_keys = Operation(ops.get_repo_ai_api_keys)
    update_repo_ai_api_key = Operation(ops.update_repo_ai_api_key)
    delete_repo_ai_api_key = Operation(ops.delete_repo_ai_api_key)

    create_policy = Operation(ops.create_policy)
    get_policies = Operation(ops.get_policies)
    get_policy = Operation(ops.get_policy)
    update_policy = Operation(ops.update_policy)
    delete_policy = Operation(ops.delete_policy)
    get_policy_violations = Operation(ops.get_policy_violations)
    get_policy_violations_by_policy_id = Operation(ops.get_policy_violations_by_policy_id)
    get_policy_alerts = Operation(ops.get_policy_alerts)
    get_policy_alerts_by_policy_id = Operation(ops.get_policy_alerts_by_policy_id)

    get_ai_stats_minute = Operation(ops.get_ai_stats_minute)
    get_ai_stats_daily = Operation(ops.get_ai_stats_daily)


class TollgateClient(_Operations):
    """Blocking client: `TollgateClient(api_key="tgm_...", base_url="http://127.0.0.1:8080")`.
    Use as a context manager, or call `close()`."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=_headers(api_key, headers), timeout=timeout, transport=transport
        )

    def set_auth_token(self, token: str | None) -> None:
        """Use this bearer token from now on (login access token or API token); None forgets it."""
        if token:
            self._http.headers["authorization"] = f"Bearer {token}"
        else:
            self._http.headers.pop("authorization", None)

    def _send(self, call: Call[R]) -> R:
        response = self._http.request(call.method, call.path, json=call.body, params=call.params or None)
        return _answer(call, response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TollgateClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncTollgateClient(_Operations):
    """asyncio client with the same methods as coroutines; `async with AsyncTollgateClient(...)`."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=_headers(api_key, headers), timeout=timeout, transport=transport
        )

    def set_auth_token(self, token: str | None) -> None:
        """Use this bearer token from now on; None forgets it."""
        if token:
            self._http.headers["authorization"] = f"Bearer {token}"
        else:
            self._http.headers.pop("authorization", None)

    async def _send(self, call: Call[R]) -> R:
        response = await self._http.request(call.method, call.path, json=call.body, params=call.params or None)
        return _answer(call, response)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncTollgateClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
