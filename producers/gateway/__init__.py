"""The gateway: OpenAI-compatible `/v1` in front of every provider.

Modules, one job each: `app` (raw ASGI routes), `handlers` (request flow), `auth`,
`refresher` (snapshot polling), `routing` (pure model -> candidates), `breaker`,
`transport` (pooled upstream HTTP), `usage` (token estimates), `events` (RequestEvent),
`errors` (OpenAI error shape), `hooks` (policy pre-check / post-usage), `lastused`.
"""
