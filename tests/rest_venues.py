"""Local Binance / Bybit / OKX REST history endpoints on 127.0.0.1 (aiohttp), for backfill tests.

VALUES ARE REAL, SHAPES ARE THE VENUES': every response carries real Binance USD-M BTCUSDT data
of December 2025 from ``../shared/data/binance_usdm_5m_2025-12/`` (5-minute klines, the
byte-identical archive CSV; 5-minute open interest ``t,oi,oi_usd`` from the archive ``metrics``
files), re-written into each venue's documented response shape. There is no recorded Bybit or OKX
history in the repository, so the Bybit and OKX servers answer with those same Binance values:

* Bybit ``/v5/market/open-interest``: ``openInterest`` = 2 × oi (the docs: "sum of both sides"),
  ``singleOpenInterest`` = oi (omitted when ``bybit_single=False``), newest first, cursor pages;
  ``/v5/market/kline``: ``[start, o, h, l, c, volume, turnover]`` newest first.
* OKX ``/api/v5/rubik/stat/contracts/open-interest-history``: ``[ts, oi / 0.01 (contracts of
  0.01 BTC), oi (oiCcy), oi_usd (oiUsd)]`` newest first, only the latest 1,440 entries;
  ``/api/v5/market/history-candles``: ``[ts, o, h, l, c, volume / 0.01, volume, quote_volume,
  confirm]``.
* Binance: ``/futures/data/openInterestHist`` (last 30 days only) and ``/fapi/v1/klines``.

Paging follows each venue's documented parameters (Binance startTime/endTime/limit, Bybit
cursor and start/end, OKX ``end``/``after`` = "earlier than", ``begin`` = "newer than") and the
documented page maxima are enforced (HTTP 400 above them). The server's clock is ``now_ms``:
nothing after it is served, and the candle containing it is still open. ``scripted[path]`` holds
replies served before the normal ones (429 + Retry-After, a Bybit 10006 body ...). Every request
is logged as ``(path, query dict)``.
"""

from __future__ import annotations

import csv
import json

from aiohttp import web

from archive_server import btc_5m_dec_2025, shared_data
from localvenue import LocalHttpServer

STEP = 300_000
NOW = 1767225540000  # 2025-12-31 23:59:00 UTC: the 23:55 candle is still open
OKX_CT_VAL = 0.01    # BTC per BTC-USDT-SWAP contract


def real_klines() -> list[list[str]]:
    """The 8,928 real 5m kline rows of December 2025 (strings as in the archive)."""
    with open(btc_5m_dec_2025()) as fh:
        return [r for r in csv.reader(fh) if r and r[0].isdigit()]


def real_oi() -> list[tuple[int, float, float]]:
    """The 8,928 real 5m open-interest rows ``(t ms, oi base, oi_usd)`` of December 2025."""
    with open(shared_data() / "binance_usdm_5m_2025-12" / "BTCUSDT_oi_5m_2025-12-01_to_2025-12-31.csv") as fh:
        return [(int(r["t"]), float(r["oi"]), float(r["oi_usd"])) for r in csv.DictReader(fh)]


def _q(request: web.Request, name: str, default=None, cast=int):
    v = request.query.get(name)
    return default if v in (None, "") else cast(v)


class RestVenues(LocalHttpServer):
    """One aiohttp server answering all three venues' history endpoints (module docstring)."""

    def __init__(self, now_ms: int = NOW, bybit_single: bool = True) -> None:
        self.now_ms = now_ms
        self.bybit_single = bybit_single
        self.klines = [k for k in real_klines() if int(k[0]) <= now_ms]
        self.oi = [o for o in real_oi() if o[0] <= now_ms]
        self.scripted: dict[str, list[tuple[int, dict, object]]] = {}
        self.requests: list[tuple[str, dict]] = []

    def calls(self, path: str) -> list[dict]:
        return [q for p, q in self.requests if p == path]

    @staticmethod
    def _json(body, status: int = 200, headers: dict | None = None) -> web.Response:
        return web.Response(status=status, text=json.dumps(body), headers=headers, content_type="application/json")

    def _open(self, k: list[str]) -> bool:
        return int(k[6]) >= self.now_ms

    # ---------------------------------------------------------------- Binance
    def binance_oi(self, r: web.Request):
        limit = _q(r, "limit", 30)
        if limit > 500 or r.query.get("period") != "5m":
            return self._json({"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."}, 400)
        lo, hi = _q(r, "startTime", 0), _q(r, "endTime", self.now_ms)
        rows = [o for o in self.oi if lo <= o[0] <= hi and o[0] >= self.now_ms - 30 * 86_400_000][:limit]
        return self._json([{"symbol": r.query["symbol"], "sumOpenInterest": f"{oi:.8f}",
                             "sumOpenInterestValue": f"{usd:.8f}", "timestamp": t} for t, oi, usd in rows])

    def binance_klines(self, r: web.Request):
        limit = _q(r, "limit", 500)
        if limit > 1500:
            return self._json({"code": -1130, "msg": "limit"}, 400)
        lo, hi = _q(r, "startTime", 0), _q(r, "endTime", self.now_ms)
        rows = [k for k in self.klines if lo <= int(k[0]) <= hi][:limit]
        return self._json([[int(k[0]), k[1], k[2], k[3], k[4], k[5], int(k[6]), k[7], int(k[8]), k[9], k[10], k[11]]
                           for k in rows])

    # ---------------------------------------------------------------- Bybit
    def bybit_oi(self, r: web.Request):
        limit = _q(r, "limit", 50)
        if limit > 200 or r.query.get("intervalTime") != "5min" or r.query.get("category") != "linear":
            return self._json({"retCode": 10001, "retMsg": "params error", "result": {}})
        lo, hi = _q(r, "startTime", 0), _q(r, "endTime", self.now_ms)
        rows = [o for o in self.oi if lo <= o[0] <= hi][::-1]
        off = _q(r, "cursor", 0)
        page = rows[off:off + limit]
        nxt = str(off + limit) if off + limit < len(rows) else ""
        lst = [{"openInterest": f"{2 * oi:.8f}", "timestamp": str(t),
                **({"singleOpenInterest": f"{oi:.8f}"} if self.bybit_single else {})} for t, oi, _ in page]
        return self._json({"retCode": 0, "retMsg": "OK", "result": {"symbol": r.query["symbol"], "category": "linear",
                                                                    "list": lst, "nextPageCursor": nxt}, "time": self.now_ms})

    def bybit_kline(self, r: web.Request):
        limit = _q(r, "limit", 200)
        if limit > 1000 or r.query.get("interval") != "5":
            return self._json({"retCode": 10001, "retMsg": "params error", "result": {}})
        lo, hi = _q(r, "start", 0), _q(r, "end", self.now_ms)
        rows = [k for k in self.klines if lo <= int(k[0]) <= hi][-limit:][::-1]
        lst = [[k[0], k[1], k[2], k[3], k[4], k[5], k[7]] for k in rows]
        return self._json({"retCode": 0, "retMsg": "OK", "result": {"symbol": r.query["symbol"], "category": "linear",
                                                                    "list": lst}, "time": self.now_ms})

    # ---------------------------------------------------------------- OKX
    def okx_oi(self, r: web.Request):
        limit = _q(r, "limit", 100)
        if limit > 100 or r.query.get("period") != "5m" or r.query.get("instId") != "BTC-USDT-SWAP":
            return self._json({"code": "51000", "msg": "Parameter error", "data": []})
        end, begin = _q(r, "end", self.now_ms + 1), _q(r, "begin", -1)
        latest = self.oi[-1440:][::-1]
        rows = [o for o in latest if begin < o[0] < end][:limit]
        return self._json({"code": "0", "msg": "", "data": [[str(t), f"{oi / OKX_CT_VAL:.2f}", f"{oi:.8f}", f"{usd:.8f}"]
                                                            for t, oi, usd in rows]})

    def okx_candles(self, r: web.Request):
        limit = _q(r, "limit", 100)
        if limit > 300 or r.query.get("bar") != "5m":
            return self._json({"code": "51000", "msg": "Parameter error", "data": []})
        after = _q(r, "after", self.now_ms + 1)
        rows = [k for k in self.klines if int(k[0]) < after][::-1][:limit]
        return self._json({"code": "0", "msg": "", "data": [
            [k[0], k[1], k[2], k[3], k[4], f"{float(k[5]) / OKX_CT_VAL:.1f}", k[5], k[7], "0" if self._open(k) else "1"]
            for k in rows]})

    # ---------------------------------------------------------------- server
    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.query)))
        if self.scripted.get(request.path):
            status, headers, body = self.scripted[request.path].pop(0)
            return self._json(body, status, headers)
        route = {"/futures/data/openInterestHist": self.binance_oi, "/fapi/v1/klines": self.binance_klines,
                 "/v5/market/open-interest": self.bybit_oi, "/v5/market/kline": self.bybit_kline,
                 "/api/v5/rubik/stat/contracts/open-interest-history": self.okx_oi,
                 "/api/v5/market/history-candles": self.okx_candles}.get(request.path)
        if route is None:
            raise web.HTTPNotFound()
        return route(request)
