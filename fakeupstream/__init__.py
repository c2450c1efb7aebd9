"""A local fake of the four provider families' wire formats, for tests and benchmarks.

`FakeUpstream().start()` serves OpenAI (`/v1/...`, `/v1/responses` included), Anthropic
(`/v1/messages`, `/v1/messages/count_tokens`, `/v1/models` with `x-api-key`), Gemini (`/v1beta/models/...`) and Bedrock (`/foundation-models`,
`/model/{id}/converse[-stream]`, `/model/{id}/invoke`) on one 127.0.0.1 port, checks each
family's credentials (Bedrock: full SigV4 verification), validates like the real APIs, and
answers deterministically (rules in `fakeupstream.rules`). Faults: `fakeupstream.control.Control`
in-process, or `POST /_control` from another process.
"""

from .common import Credentials
from .control import Control, Fault
from .server import FakeUpstream

__all__ = ["Credentials", "Control", "Fault", "FakeUpstream"]
