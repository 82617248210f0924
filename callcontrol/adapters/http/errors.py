"""The API's JSON error for aiohttp's own refusals (no such route or method, a body too large) and for failures."""

from __future__ import annotations

import structlog
from aiohttp import hdrs, web

from callcontrol.adapters.http.auth import Handler

_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}
log = structlog.get_logger(__name__)
_KEPT_HEADERS = (hdrs.ALLOW, hdrs.RETRY_AFTER, hdrs.WWW_AUTHENTICATE)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The outermost middleware: an HTTP error aiohttp raises as text/plain becomes {error, message} JSON; a
    handler's exception is logged with its traceback (http.failed) and answered 500 {"error": "internal"}."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        message = f"{request.method} {request.path[:200]}: {exc.reason.lower()}"
        if exc.status == 405:
            message += f" (allowed: {exc.headers.get(hdrs.ALLOW, '')})"
        return web.json_response({"error": _CODES.get(exc.status, f"http_{exc.status}"), "message": message},
                                 status=exc.status,
                                 headers={name: exc.headers[name] for name in _KEPT_HEADERS if name in exc.headers})
    except Exception:
        log.exception("http.failed", method=request.method, path=request.path[:200])
        return web.json_response({"error": "internal", "message": "the service failed on this request; its log says "
                                  "why"}, status=500)
