"""How real venues answer subscribe requests, for ``LocalWsVenue(answer=...)``.

Each answerer behaves like its venue on the points of issue #16, using the venue's
REAL answer shapes (recorded frames under ``tests/fixtures/<venue>/`` and
``cryptofeed_sample_data``, or the documented example where no recording exists,
said per class): acks echo what the venue echoes, a request naming something the
venue does not list is refused the way the venue refuses it. ``listed`` is the
local venue's listing. ``answered[n]`` keeps every answer sent on connection n.
"""

from __future__ import annotations

import json
from collections import defaultdict

from localvenue import LocalHttpServer, protocol_frame


def compact(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


class Answers:
    """Base: records answers per connection; subclasses implement :meth:`reply`."""

    def __init__(self, listed: set[str] | None = None) -> None:
        self.listed = listed
        self.answered: dict[int, list[str]] = defaultdict(list)

    def __call__(self, idx: int, text: str) -> list[str]:
        out = self.reply(idx, text)
        self.answered[idx] += out
        return out

    def reply(self, idx: int, text: str) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def known(self, symbol: str | None) -> bool:
        return symbol is None or self.listed is None or symbol in self.listed


class OkxAnswers(Answers):
    """OKX v5 public websocket: text ``ping`` -> ``pong``; one answer per arg, echoing
    the request ``id`` (https://www.okx.com/docs-v5/en/#overview-websocket-subscribe);
    an arg whose ``instId`` is not listed gets the 60018 error of the real 2026-10-02
    capture (``okx/error_60018_2026-10-02.json``, message rebuilt for that arg, ``id``
    added as the docs return it). The other args of that request are answered
    normally (OKX does not document the whole-request case)."""

    def reply(self, idx: int, text: str) -> list[str]:
        if text == "ping":
            return ["pong"]
        msg = json.loads(text)
        if msg.get("op") != "subscribe":
            return []
        out = []
        for arg in msg["args"]:
            head = {"id": msg["id"]} if "id" in msg else {}
            if self.known(arg.get("instId")):
                out.append(compact({**head, "event": "subscribe", "arg": arg, "connId": f"c{idx}"}))
            else:
                err = json.loads(protocol_frame("okx/error_60018_2026-10-02.json"))
                err["msg"] = (f"Subscribe failed, wrong URL or channel:{arg['channel']},instId:{arg['instId']} doesn't "
                              "exist. Please use the correct URL, channel and parameters referring to API document.")
                out.append(compact({**head, **err}))
        return out


#: OKX's documented restart notice (a documentation example: no recording exists).
OKX_NOTICE = protocol_frame("okx/DOC_notice_64008.json")


#: Bybit's documented pong (https://bybit-exchange.github.io/docs/v5/ws/connect).
BYBIT_PONG = '{"success":true,"ret_msg":"pong","conn_id":"0970e817-426e-429a-a679-ff7f55e0b16a","req_id":"","op":"ping"}'


class BybitAnswers(Answers):
    """Bybit v5 linear/inverse: the documented pong; ONE answer per subscribe request
    echoing ``req_id`` (https://bybit-exchange.github.io/docs/v5/ws/connect); a request
    naming an unlisted symbol is refused as a whole with the real testnet rejection
    shape (``bybit/reject_handler_not_found_testnet.json``: ``ret_msg`` names the first
    bad topic, ``req_id`` echoed)."""

    def reply(self, idx: int, text: str) -> list[str]:
        msg = json.loads(text)
        if msg.get("op") == "ping":
            return [BYBIT_PONG]
        if msg.get("op") != "subscribe":
            return []
        bad = [a for a in msg["args"] if not self.known(a.split(".")[-1])]
        if not bad:
            return [compact({"success": True, "ret_msg": "", "conn_id": f"c{idx}", "req_id": msg.get("req_id", ""), "op": "subscribe"})]
        err = json.loads(protocol_frame("bybit/reject_handler_not_found_testnet.json"))
        err.update(ret_msg=f"error:handler not found,topic:{bad[0]}", req_id=msg.get("req_id", ""))
        return [compact(err)]


def bybit_instruments(category: str, symbols: list[str], cursor: str = "") -> str:
    """A ``/v5/market/instruments-info`` page in the DOCUMENTED response shape
    (https://bybit-exchange.github.io/docs/v5/market/instrument), listing ``symbols``
    (taken from recorded frames by the tests): not a recorded response."""
    rows = [{"symbol": s, "contractType": "InversePerpetual" if category == "inverse" else "LinearPerpetual",
             "status": "Trading", "baseCoin": s[:3], "quoteCoin": "USD" if category == "inverse" else "USDT"} for s in symbols]
    return compact({"retCode": 0, "retMsg": "OK", "result": {"category": category, "list": rows, "nextPageCursor": cursor},
                    "retExtInfo": {}, "time": 1740480207578})


class LocalListing(LocalHttpServer):
    """REST listing server: ``routes`` maps a request's path+query PREFIX to a body
    (or a zero-argument callable giving it, so a test can change the listing)."""

    def __init__(self, routes: dict) -> None:
        self.routes = routes
        self.requests: list[str] = []

    async def _handle(self, request):
        from aiohttp import web

        self.requests.append(request.path_qs)
        for prefix in sorted(self.routes, key=len, reverse=True):
            if request.path_qs.startswith(prefix):
                body = self.routes[prefix]
                return web.Response(text=body() if callable(body) else body, content_type="application/json")
        return web.Response(status=404, text="{}")


def bitmex_welcome() -> str:
    """The real BitMEX welcome frame of the recorded session (cryptofeed BITMEX.ws.1.0, 2021-07-22)."""
    from localvenue import cryptofeed_frames

    return next(f for f in cryptofeed_frames("BITMEX.ws.1.0", limit=50) if f.startswith('{"info"'))


class BitmexAnswers(Answers):
    """BitMEX realtime: text ``ping`` -> ``pong``; one success per topic echoing the
    request (shape of the recorded session, cryptofeed BITMEX.ws.1.0); a request naming an
    unlisted symbol is refused ONCE as a whole, echoing it, with status 400 "Unknown or
    expired symbol." (third-party capture quoted in notes/venues.md §2.3); more than 20
    args: "Too many args sent. Max length is 20." (BitMEX/api-connectors#387)."""

    def reply(self, idx: int, text: str) -> list[str]:
        if text == "ping":
            return ["pong"]
        msg = json.loads(text)
        if msg.get("op") != "subscribe":
            return []
        args = msg["args"]
        if len(args) > 20:
            return [compact({"status": 400, "error": "Too many args sent. Max length is 20.", "meta": {}, "request": msg})]
        if any(not self.known(a.split(":", 1)[1]) for a in args if ":" in a):
            return [compact({"status": 400, "error": "Unknown or expired symbol.", "meta": {}, "request": msg})]
        return [compact({"success": True, "subscribe": a, "request": msg}) for a in args]


class BinanceAnswers(Answers):
    """Binance futures streams: ``LIST_SUBSCRIPTIONS`` answered with the connection's URL
    streams in the shape of the real reply (``aster/list_subscriptions_reply.json``, a
    live capture on Aster, which speaks Binance's protocol; the same reply was reported
    live on Binance USD-M), echoing the request ``id``."""

    def reply(self, idx: int, text: str) -> list[str]:
        msg = json.loads(text)
        if msg.get("method") == "LIST_SUBSCRIPTIONS":
            real = json.loads(protocol_frame("aster/list_subscriptions_reply.json"))
            streams = self.streams[idx] if idx < len(self.streams) else real["result"]
            return [compact({"result": streams, "id": msg["id"]})]
        if msg.get("method") == "SUBSCRIBE":
            return [compact({"result": None, "id": msg["id"]})]
        return []

    streams: list[list[str]] = []


class DeribitAnswers(Answers):
    """Deribit JSON-RPC: ``public/set_heartbeat`` -> ``"ok"``; ``public/subscribe`` ->
    ``{"jsonrpc":"2.0","id":n,"result":[channels]}`` (shape of the recorded session,
    cryptofeed DERIBIT.ws.1.0) listing the channels it serves: a channel of an
    instrument it does not list is left out of ``result`` (the documented meaning of
    ``result``: the channels subscribed)."""

    def reply(self, idx: int, text: str) -> list[str]:
        msg = json.loads(text)
        if msg.get("method") == "public/set_heartbeat":
            return [compact({"jsonrpc": "2.0", "id": msg["id"], "result": "ok"})]
        if msg.get("method") != "public/subscribe":
            return []
        ok = [c for c in msg["params"]["channels"] if self.known(c.split(".")[1])]
        return [compact({"jsonrpc": "2.0", "id": msg["id"], "result": ok})]


def deribit_instruments(names: list[str]) -> str:
    """A ``public/get_instruments`` response in the DOCUMENTED shape
    (https://docs.deribit.com/api-reference/market-data/public-get_instruments) listing
    ``names``: not a recorded response."""
    rows = [{"instrument_name": n, "kind": "future", "is_active": True,
             "settlement_period": "perpetual" if n.endswith("PERPETUAL") else "month"} for n in names]
    return compact({"jsonrpc": "2.0", "result": rows, "usIn": 1, "usOut": 2, "usDiff": 1, "testnet": False})


class HyperliquidAnswers(Answers):
    """Hyperliquid: ``{"method":"ping"}`` -> ``{"channel":"pong"}``; each subscription
    answered ``{"channel":"subscriptionResponse","data":{"method":"subscribe",
    "subscription":{...}}}`` (documented shape); a coin it does not list is refused on
    channel ``error`` with a text naming the subscription (shape of the real refusal text
    "Already subscribed: {...}" reported in gemwalletcom/wallet#462; the wording for an
    unknown coin is this local venue's)."""

    def reply(self, idx: int, text: str) -> list[str]:
        msg = json.loads(text)
        if msg.get("method") == "ping":
            return ['{"channel":"pong"}']
        if msg.get("method") != "subscribe":
            return []
        sub = msg["subscription"]
        if not self.known(sub.get("coin")):
            return [compact({"channel": "error", "data": f"Invalid subscription: {compact(sub)}"})]
        return [compact({"channel": "subscriptionResponse", "data": {"method": "subscribe", "subscription": sub}})]


def hyperliquid_meta(coins: list[str], delisted: tuple[str, ...] = ()) -> str:
    """A ``POST /info {"type":"meta"}`` response in the DOCUMENTED shape
    (https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals):
    not a recorded response."""
    rows = [{"name": c, "szDecimals": 4, "maxLeverage": 20, **({"isDelisted": True} if c in delisted else {})} for c in coins]
    return compact({"universe": rows})
