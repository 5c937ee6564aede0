"""Guards of the HTTP API: the bearer token of state-changing endpoints and the request
body size limit.

* State-changing endpoints (``POST /jobs/...``) need ``Authorization: Bearer <token>``
  equal to ``[api] token``. With no token configured they are disabled: every call gets
  403. A missing or wrong token gets 401 (with ``WWW-Authenticate: Bearer``). The token
  is compared in constant time.
* Request bodies larger than ``[api] max_body_bytes`` get 413, whether the client
  declares the size (``Content-Length``) or streams the body (chunked transfer): the
  stream is counted as it is read and the request is cut off at the limit.
"""

from __future__ import annotations

import hmac
import json
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

bearer = HTTPBearer(auto_error=False, description="the [api] token of the server's settings")


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """FastAPI dependency: refuse the call unless it carries the configured token."""
    expected: SecretStr | None = request.app.state.token
    if expected is None or not expected.get_secret_value():
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "state-changing endpoints are disabled: no [api] token is configured on the server",
        )
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "this endpoint changes state: send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(
        credentials.credentials.encode(), expected.get_secret_value().encode()
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid bearer token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"request body larger than the limit of {limit} bytes ([api] max_body_bytes)",
        )


class BodyLimit:
    """ASGI middleware enforcing a request body size limit (see the module docstring)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await _reply(send, 400, "invalid Content-Length header")
            return
        if declared is not None and declared > self.max_bytes:
            await _reply(send, 413, BodyTooLarge(self.max_bytes).detail)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracking_send)
        except BodyTooLarge as exc:  # raised where nothing turned it into a response
            if started:
                raise
            await _reply(send, exc.status_code, str(exc.detail))


def _content_length(scope: Scope) -> int | None:
    """The declared body size; None if absent, -1 if malformed."""
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            try:
                n = int(value)
            except ValueError:
                return -1
            return n if n >= 0 else -1
    return None


async def _reply(send: Send, code: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
