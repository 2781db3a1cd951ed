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

from localvenue import protocol_frame


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
