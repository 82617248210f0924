"""aiohttp's own refusals (no such route, a method the route lacks, a body too large) as the API's JSON error."""

from __future__ import annotations

from aiohttp import hdrs, web

from callcontrol.adapters.http.auth import Handler

_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}
_KEPT_HEADERS = (hdrs.ALLOW, hdrs.RETRY_AFTER, hdrs.WWW_AUTHENTICATE)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The outermost middleware: an HTTP error aiohttp raises as text/plain becomes {error, message} JSON."""
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
