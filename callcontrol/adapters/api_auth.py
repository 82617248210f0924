"""Who an API request is: the API token (`Authorization: Bearer`) or an agent with its id and PIN (HTTP Basic).

Agents' PINs go through services/agent_pins.py (failed attempts limited, shared with the phones): while an agent
is locked out the answer is 429 with Retry-After, whatever PIN was sent, and the PIN is not even hashed.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable

from aiohttp import web

from callcontrol.services.agent_pins import AgentPins

BASIC_CHALLENGE = 'Basic realm="callcontrol agents"'


def credentials(request: web.Request) -> tuple[str, str]:
    """The Authorization header as (scheme, the rest), the scheme as sent: compare it case-insensitively (RFC 7235
    section 2.1: `bearer`, `Bearer` and `BEARER` are one scheme); ("", "") when there is none."""
    scheme, _, rest = request.headers.get("Authorization", "").strip().partition(" ")
    return scheme, rest.strip()


def token_denied(request: web.Request, api_token: str | None) -> web.Response | None:
    """None when the request carries the API token; else the 401/403 answer."""
    if api_token is None:
        return web.json_response({"error": "api_token_unset",
                                  "message": "changes through the API need CALLCONTROL_API_TOKEN set"}, status=403)
    scheme, token = credentials(request)
    if not (scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), api_token.encode())):
        return web.json_response({"error": "unauthorized", "message": "Authorization: Bearer <api token>"},
                                 status=401, headers={"WWW-Authenticate": "Bearer"})
    return None


async def agent_or_token_denied(request: web.Request, agent_id: str, api_token: str | None,
                                pins: AgentPins | None, known: Callable[[str], bool]) -> web.Response | None:
    """None for the agent itself (HTTP Basic: its id and PIN) or the API token; else the 401/403/429 answer."""
    scheme, encoded = credentials(request)
    if scheme.lower() != "basic" or pins is None:
        return token_denied(request, api_token)
    try:
        user, _, pin = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        user, pin = "", ""
    if user == agent_id and known(agent_id):  # agent ids are public (GET /api/agents): no PIN work for others
        verdict = await pins.check(agent_id, pin, "api", remote=request.remote)
        if verdict.ok:
            return None
        if verdict.locked is not None:
            seconds = verdict.locked.retry_after_s
            return web.json_response(
                {"error": "too_many_attempts",
                 "message": f"too many wrong PINs for agent {agent_id[:64]}: try again in {seconds} s"},
                status=429, headers={"Retry-After": str(seconds)})
    return web.json_response({"error": "unauthorized", "message": "wrong agent id or PIN"}, status=401,
                             headers={"WWW-Authenticate": BASIC_CHALLENGE})
