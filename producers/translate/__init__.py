"""Pure translators between the client-facing API surfaces and OpenAI chat completions.

The gateway's adapters speak OpenAI chat to every provider family; these modules put the
Anthropic Messages API (`anthropic_in`, `anthropic_out`) and the OpenAI Responses API
(`responses_in`, `responses_out`) on top of that, in both directions, streamed too
(`chunks` reads the adapters' chat chunk lines). No I/O anywhere; nothing blocks.
"""
