"""Typed Python client for the Tollgate management API (sync and async, on httpx).

    from tollgate_client import TollgateClient
    with TollgateClient("http://127.0.0.1:8080", api_key="tgm_...") as tg:
        tg.get_ai_llms(workspace_id)

Method names are the Flashback client's, in snake_case; answers are the TypedDicts of
`tollgate_client.types` (generated from Tollgate's OpenAPI document).
"""

from . import types
from .client import AsyncTollgateClient, TollgateClient
from .errors import TollgateError

__all__ = ["AsyncTollgateClient", "TollgateClient", "TollgateError", "types"]
