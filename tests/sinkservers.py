"""A local HTTP server (127.0.0.1, random port) that answers like the four alert sinks.

One aiohttp app, four protocols, each checked against its official documentation:

* Telegram Bot API ``POST /bot<token>/sendMessage`` (https://core.telegram.org/bots/api#sendmessage):
  ``chat_id`` required, ``text`` 1..4096 characters; with ``parse_mode = "HTML"`` only the
  documented tags may appear and ``<``/``>``/``&`` must be escaped. Replies ``{"ok": true,
  "result": Message}``, or ``{"ok": false, "error_code", "description", "parameters":
  {"retry_after"}}`` on flood control (429).
* Discord ``POST /api/webhooks/<id>/<token>`` (https://discord.com/developers/docs/resources/webhook#execute-webhook):
  ``content`` (<= 2000) or ``embeds`` (<= 10, 6000 characters in total, title <= 256,
  description <= 4096, footer <= 2048) required. Replies ``204``; on 429 a JSON body with
  ``retry_after`` (seconds, float) and a ``Retry-After`` header.
* Slack ``POST /services/<T>/<B>/<X>`` (https://api.slack.com/messaging/webhooks):
  ``text`` or ``blocks`` (<= 50; section text <= 3000; ``&<>`` escaped). Replies ``200 ok``;
  errors are plain strings (``invalid_payload`` 400, ``channel_not_found`` 404); 429 with
  ``Retry-After``.
* Generic JSON ``POST /hook/<name>``: any JSON object, replies ``200``.

Per protocol ``mode[kind]``: ``"ok"``; ``"fail"`` (HTTP 500 every time); ``"reject"`` (the
service's permanent error: 400/404); ``"ratelimit"`` (the first ``ratelimit_n`` requests get
429 with a wait of ``retry_after`` seconds, then ok); ``"hang"`` (never answers). Every
request is recorded in ``received[kind]`` as ``(monotonic time, body)``; a body that breaks
the documented shape is answered with the service's 400 and recorded in ``invalid``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import defaultdict

from aiohttp import web

KINDS = ("telegram", "discord", "slack", "webhook")
_TG_TAGS = re.compile(r"</?(b|strong|i|em|u|ins|s|strike|del|code|pre|a|span|tg-spoiler|blockquote)( [^>]*)?>")


def telegram_problem(body: dict) -> str | None:
    """Why ``body`` is not a valid sendMessage request (None when it is)."""
    if "chat_id" not in body or body["chat_id"] in ("", None):
        return "Bad Request: chat_id is empty"
    text = body.get("text")
    if not isinstance(text, str) or not text:
        return "Bad Request: message text is empty"
    if body.get("parse_mode") == "HTML":
        stripped = _TG_TAGS.sub("", text)
        if "<" in stripped or ">" in stripped:
            return "Bad Request: can't parse entities: unsupported start tag"
        stripped = re.sub(r"&(lt|gt|amp|quot|#\d+);", "", stripped)
        if "&" in stripped:
            return "Bad Request: can't parse entities: unescaped &"
        text = re.sub(r"&(lt|gt|amp|quot|#\d+);", "x", _TG_TAGS.sub("", text))
    if len(text) > 4096:
        return "Bad Request: message is too long"
    return None


def discord_problem(body: dict) -> str | None:
    """Why ``body`` is not a valid Execute Webhook request (None when it is)."""
    content, embeds = body.get("content"), body.get("embeds")
    if not content and not embeds:
        return "Cannot send an empty message"
    if content is not None and (not isinstance(content, str) or len(content) > 2000):
        return "content: Must be 2000 or fewer in length."
    if embeds is not None:
        if not isinstance(embeds, list) or len(embeds) > 10:
            return "embeds: Must be 10 or fewer in length."
        total = 0
        for e in embeds:
            title, desc = e.get("title", ""), e.get("description", "")
            footer = (e.get("footer") or {}).get("text", "")
            if len(title) > 256 or len(desc) > 4096 or len(footer) > 2048:
                return "embeds: field too long"
            if "color" in e and not (isinstance(e["color"], int) and 0 <= e["color"] <= 0xFFFFFF):
                return "embeds: color"
            if "timestamp" in e and not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", e["timestamp"]):
                return "embeds: timestamp"
            total += len(title) + len(desc) + len(footer)
        if total > 6000:
            return "Embed size exceeds maximum size of 6000"
    return None


def slack_problem(body: dict) -> str | None:
    """Why ``body`` is not a valid incoming-webhook message (None when it is)."""
    text, blocks = body.get("text"), body.get("blocks")
    if not text and not blocks:
        return "no_text"
    for s in [text or ""] + [json.dumps(b) for b in blocks or []]:
        if re.search(r"<(?![@#!]|https?://)", s) or ">" in re.sub(r"<[^>]*>", "", s).replace("&gt;", ""):
            return "invalid_payload"
    if blocks is not None:
        if not isinstance(blocks, list) or len(blocks) > 50:
            return "invalid_blocks"
        for b in blocks:
            if b.get("type") not in ("section", "context", "header", "divider"):
                return "invalid_blocks"
            if b["type"] == "section" and len(b.get("text", {}).get("text", "")) > 3000:
                return "invalid_blocks"
            if b["type"] == "context" and not 1 <= len(b.get("elements", [])) <= 10:
                return "invalid_blocks"
    return None


class SinkServer:
    """The mimic server (module docstring). ``async with SinkServer() as srv: srv.url``."""

    def __init__(self, retry_after: float = 0.3, ratelimit_n: int = 1) -> None:
        self.mode: dict[str, str] = {k: "ok" for k in KINDS}
        self.received: dict[str, list[tuple[float, dict]]] = defaultdict(list)
        self.invalid: list[tuple[str, str]] = []
        self.retry_after = retry_after
        self.ratelimit_n = ratelimit_n
        self._limited: dict[str, int] = defaultdict(int)
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._msg_id = 0
        self._closing: asyncio.Event | None = None

    # -- helpers used by tests ------------------------------------------------------------
    def bodies(self, kind: str) -> list[dict]:
        return [b for _, b in self.received[kind]]

    def sink_urls(self) -> dict[str, str]:
        """Where each sink type should post (tokens are fake)."""
        return {"telegram": self.url, "discord": f"{self.url}/api/webhooks/123/fake-token",
                "slack": f"{self.url}/services/T000/B000/fake", "webhook": f"{self.url}/hook/ops"}

    # -- server ---------------------------------------------------------------------------
    async def __aenter__(self) -> "SinkServer":
        self._closing = asyncio.Event()
        app = web.Application()
        app.router.add_post("/bot{token}/sendMessage", self._telegram)
        app.router.add_post("/api/webhooks/{id}/{token}", self._discord)
        app.router.add_post("/services/{t}/{b}/{x}", self._slack)
        app.router.add_post("/hook/{name}", self._webhook)
        app.router.add_get("/_received/{kind}", self._dump)
        app.router.add_post("/_mode/{kind}/{mode}", self._set_mode)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc) -> None:
        if self._closing is not None:
            self._closing.set()  # release "hang" handlers so shutdown does not wait for them
        if self._runner is not None:
            await self._runner.cleanup()

    async def _dump(self, request: web.Request) -> web.Response:
        """Control endpoint for a server in another process: what ``kind`` received."""
        return web.json_response(self.received[request.match_info["kind"]])

    async def _set_mode(self, request: web.Request) -> web.Response:
        """Control endpoint for a server in another process: set ``mode[kind]``."""
        self.mode[request.match_info["kind"]] = request.match_info["mode"]
        return web.json_response({"ok": True})

    async def _common(self, kind: str, request: web.Request) -> tuple[dict | None, str]:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        self.received[kind].append((time.monotonic(), body))
        mode = self.mode[kind]
        if mode == "hang":
            assert self._closing is not None
            await self._closing.wait()
        if mode == "ratelimit":
            self._limited[kind] += 1
            if self._limited[kind] <= self.ratelimit_n:
                return body, "429"
        return body, mode

    async def _telegram(self, request: web.Request) -> web.Response:
        body, mode = await self._common("telegram", request)
        if mode == "429":
            return web.json_response({"ok": False, "error_code": 429, "description": "Too Many Requests: retry after",
                                      "parameters": {"retry_after": self.retry_after}}, status=429)
        if mode == "fail":
            return web.json_response({"ok": False, "error_code": 500, "description": "Internal Server Error"}, status=500)
        if mode == "reject":
            return web.json_response({"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
                                     status=400)
        problem = telegram_problem(body) if isinstance(body, dict) else "Bad Request: invalid JSON"
        if problem:
            self.invalid.append(("telegram", problem))
            return web.json_response({"ok": False, "error_code": 400, "description": problem}, status=400)
        self._msg_id += 1
        return web.json_response({"ok": True, "result": {"message_id": self._msg_id, "date": int(time.time()),
                                                         "chat": {"id": body["chat_id"]}, "text": body["text"]}})

    async def _discord(self, request: web.Request) -> web.Response:
        body, mode = await self._common("discord", request)
        if mode == "429":
            return web.json_response({"message": "You are being rate limited.", "retry_after": self.retry_after,
                                      "global": False}, status=429,
                                     headers={"Retry-After": str(max(1, round(self.retry_after)))})
        if mode == "fail":
            return web.Response(status=502, text="Bad Gateway")
        if mode == "reject":
            return web.json_response({"message": "Unknown Webhook", "code": 10015}, status=404)
        problem = discord_problem(body) if isinstance(body, dict) else "Invalid JSON"
        if problem:
            self.invalid.append(("discord", problem))
            return web.json_response({"message": "Invalid Form Body", "code": 50035, "errors": problem}, status=400)
        return web.Response(status=204)

    async def _slack(self, request: web.Request) -> web.Response:
        body, mode = await self._common("slack", request)
        if mode == "429":
            return web.Response(status=429, text="rate_limited", headers={"Retry-After": str(self.retry_after)})
        if mode == "fail":
            return web.Response(status=500, text="rollup_error")
        if mode == "reject":
            return web.Response(status=404, text="channel_not_found")
        problem = slack_problem(body) if isinstance(body, dict) else "invalid_payload"
        if problem:
            self.invalid.append(("slack", problem))
            return web.Response(status=400, text=problem)
        return web.Response(status=200, text="ok")

    async def _webhook(self, request: web.Request) -> web.Response:
        body, mode = await self._common("webhook", request)
        if mode == "429":
            return web.Response(status=429, headers={"Retry-After": str(self.retry_after)})
        if mode == "fail":
            return web.Response(status=503, text="unavailable")
        if mode == "reject":
            return web.Response(status=410, text="gone")
        if not isinstance(body, dict):
            self.invalid.append(("webhook", "not a JSON object"))
            return web.Response(status=400, text="bad json")
        return web.json_response({"ok": True})


def serve_in_process(port_conn) -> None:
    """Run a :class:`SinkServer` until killed; send its URL through ``port_conn`` (a
    multiprocessing Pipe end). For benchmarks, where the sink must not share the CPU time of
    the process under test (real sinks are remote)."""

    async def main() -> None:
        async with SinkServer() as srv:
            port_conn.send(srv.url)
            await asyncio.Event().wait()

    asyncio.run(main())
