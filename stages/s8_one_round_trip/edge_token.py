"""The edge of s8: the token verified at the edge, its session checked in the request's statement.

FIX (a round trip per request too many): s1-s7's EdgeAuth checked the token's session with a
statement of its own before any route ran. Here the edge verifies the token's signature and expiry
(no database) and hands its claims to the route, whose one statement checks the session as it
reads (stages/s8_one_round_trip/queries.py). A request that ends without reaching such a read —
an unknown path, a wrong method, a body that fails validation, an error — has its session checked
here before its answer leaves, and a dead session's answer is the same 401 as before: what a
client sees for any token is what s1-s7 answered.
"""

from starlette.types import Message, Receive, Scope, Send

from domain.wiring import db, queries
from stages.s1_consolidated.edge_auth import PUBLIC, EdgeAuth, deny

CLAIMS = "claims"  # scope["state"] key: the verified token's claims, for the route's statement
CHECKED = "session_checked"  # scope["state"] key: set by the route once its statement checked the session


class TokenAtEdge(EdgeAuth):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC:
            await self.app(scope, receive, send)
            return
        claims = self._claims(scope)
        if claims is None:
            await deny(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state[CLAIMS], state[CHECKED] = claims, False
        denied = False

        async def send_once_checked(message: Message) -> None:
            nonlocal denied
            if message["type"] == "http.response.start" and not state[CHECKED]:
                state[CHECKED] = True
                live = await db.run(queries.session_user_id, claims.session_id, claims.user_id)
                denied = live is None
                if denied:
                    await deny(scope, receive, send)
            if not denied:
                await send(message)

        await self.app(scope, receive, send_once_checked)
