// liqmap dashboard: the cross-exchange panel (issue #15) of the selected underlying -- one row per
// venue perpetual (price, premium vs the aggregate, book spread, funding, open interest, 24 h
// volume, liquidity score, quote age), the open arbitrage opportunities (net of taker fees) and the
// whale tape (large trades, liquidations inline). The table is pushed by /ws/market (at most once a
// second per group); arbitrage and whales are polled with the dashboard's refresh. No innerHTML.
"use strict";
(function () {
  const M = window.LiqmapMarket;
  const el = M.el;
  const $ = (id) => document.getElementById(id);
  const st = { base: null, group: null, ws: null, last: null };
  const FAMILIES = ["USDT", "USDC", "USD"];

  const bps = (v, d) => v == null || !isFinite(v) ? "–" : v.toFixed(d == null ? 1 : d);
  const pct = (v) => v == null || !isFinite(v) ? "–" : (v * 100).toFixed(4) + "%";
  function age(ms) {
    if (ms == null) return "–";
    const s = ms / 1000;
    return s < 60 ? s.toFixed(0) + " s" : s < 3600 ? (s / 60).toFixed(0) + " min" : s < 86400 ? (s / 3600).toFixed(1) + " h"
      : s < 86400 * 60 ? (s / 86400).toFixed(0) + " d" : (s / 86400 / 30.4).toFixed(0) + " mo";
  }
  function nextFunding(ms, now) {
    if (ms == null) return "";
    const m = Math.round((ms - now) / 60000);
    return m >= 0 ? " in " + (m >= 60 ? Math.floor(m / 60) + "h" + String(m % 60).padStart(2, "0") : m + "m") : "";
  }

  function empty(text) {
    $("xv-summary").textContent = "";
    $("xv-table").querySelector("tbody").replaceChildren(el("tr", null, el("td", { colSpan: $("xv-table").tHead.rows[0].cells.length, className: "muted empty" }, text)));
  }

  function renderTable(d) {
    st.last = d;
    const agg = d.aggregated_price;
    $("xv-title").textContent = d.base + "/" + d.quote_family;
    $("xv-summary").textContent = [
      agg != null ? (d.weighting === "volume" ? "vol-weighted " : "mean ") + M.fmtPrice(agg) : "no fresh price",
      "max spread " + bps(d.max_spread_bps) + " bps",
      "funding spread " + pct(d.funding_spread),
      "OI " + M.fmtUsd(d.open_interest_total_usd), "24h vol " + M.fmtUsd(d.volume_total),
      "liquidity " + bps(d.liquidity_score, 0) + "/100",
      d.venues + " live" + (d.stale_venues.length ? ", " + d.stale_venues.length + " stale" : "")].join(" · ");
    const rows = Object.values(d.exchanges_data).sort((a, b) => (a.stale - b.stale) || ((b.volume_24h_usd || 0) - (a.volume_24h_usd || 0)));
    const tb = $("xv-table").querySelector("tbody");
    tb.replaceChildren(...rows.map((s) => {
      const prem = agg != null && s.price != null ? (s.price - agg) / agg * 1e4 : null;
      const tr = el("tr", { className: s.stale ? "stale" : "" },
        el("td", null, s.exchange, el("span", { className: "muted" }, " " + s.symbol)),
        el("td", { className: "num" }, s.price != null ? M.fmtPrice(s.price) : "–"),
        el("td", { className: "num " + (prem > 0 ? "up" : prem < 0 ? "down" : "") }, prem == null || s.stale ? "–" : (prem > 0 ? "+" : "") + prem.toFixed(1)),
        el("td", { className: "num" }, bps(s.spread_bps, 2)),
        el("td", { className: "num" }, pct(s.funding_rate), el("span", { className: "muted" }, nextFunding(s.next_funding_time, d.timestamp))),
        el("td", { className: "num" }, M.fmtUsd(s.open_interest_usd)),
        el("td", { className: "num" }, M.fmtUsd(s.volume_24h_usd)),
        el("td", { className: "num" }, bps(s.liquidity_score, 0)),
        el("td", { className: "num " + (s.stale ? "st-stale" : "st-ok") }, (s.stale ? "stale " : "") + age(s.age_ms)));
      tr.title = "bid " + (s.bid ?? "–") + " × " + (s.bid_size ?? "–") + " / ask " + (s.ask ?? "–") + " × " + (s.ask_size ?? "–")
        + (s.mark != null ? " · mark " + s.mark : "") + (s.index != null ? " · index " + s.index : "");
      return tr;
    }));
  }

  function renderArbitrage(r) {
    const ul = $("xv-arb"); ul.replaceChildren();
    if (r.error) { ul.appendChild(el("li", { className: "muted" }, r.error)); return; }
    if (!r.data.length) {
      ul.appendChild(el("li", { className: "muted" }, "No open opportunity for " + st.base + " above the venues' taker fees."));
      return;
    }
    for (const o of r.data.slice(0, 12)) {
      ul.appendChild(el("li", { className: "arb" },
        el("b", null, bps(o.net_bps) + " bps"), " buy " + o.buy_exchange + " " + M.fmtPrice(o.buy_price) + " → sell "
        + o.sell_exchange + " " + M.fmtPrice(o.sell_price),
        el("span", { className: "muted" }, " gross " + bps(o.gross_bps) + " − fees " + bps(o.fees_bps)
          + (o.funding_spread != null ? " · funding Δ " + pct(o.funding_spread) : "") + " · open " + age(o.duration_ms))));
    }
  }

  function renderWhales(r) {
    const ul = $("xv-whales"); ul.replaceChildren();
    if (r.error) { ul.appendChild(el("li", { className: "muted" }, r.error)); return; }
    if (!r.data.length) {
      ul.appendChild(el("li", { className: "muted" }, "No " + st.base + " trade ≥ " + M.fmtUsd(r.meta.trade_min_usd)
        + " or liquidation ≥ " + M.fmtUsd(r.meta.liquidation_min_usd) + " seen yet."));
      return;
    }
    for (const e of r.data.slice(0, 30)) {
      const liq = e.kind === "liquidation";
      const li = ul.appendChild(el("li", { className: "whale " + (liq ? "liq " + e.liquidated : e.side) },
        el("span", null, M.fmtTime(e.timestamp)), el("span", null, e.exchange + " " + e.symbol),
        el("span", null, liq ? e.liquidated.toUpperCase() + " LIQ" : e.side.toUpperCase()),
        el("span", { className: "num" }, M.fmtPrice(e.price)), el("span", { className: "num" }, M.fmtUsd(e.value_usd))));
      li.dataset.exchange = e.exchange; li.dataset.ts = e.timestamp;
    }
    M.markRecordings(ul);
  }

  function connect(group) {
    if (st.ws) { st.ws.onclose = null; st.ws.close(); st.ws = null; }
    if (!group) return;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(proto + "//" + location.host + "/ws/market?symbol=" + encodeURIComponent(group));
    st.ws = ws;
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.type === "ticker") { renderTable(msg.data); window.liqmapMarketPushes = (window.liqmapMarketPushes || 0) + 1; }
    };
    ws.onclose = () => { if (st.ws === ws) setTimeout(() => { if (st.ws === ws) connect(group); }, 3000); };
  }

  // the group of `base` with the most live venues (USDT first on a tie)
  function pickGroup(groups, base) {
    const mine = groups.filter((g) => g.base === base);
    mine.sort((a, b) => (b.venues - a.venues) || (b.stale_venues.length - a.stale_venues.length)
      || (FAMILIES.indexOf(a.quote_family) - FAMILIES.indexOf(b.quote_family)));
    return mine.length ? mine[0].base + mine[0].quote_family : null;
  }

  // exchanges: the dashboard's venue selection, comma list (null = all)
  async function update(base, exchanges) {
    const changed = base !== st.base;
    st.base = base;
    const [tk, arb, wh] = await Promise.all([M.soft(M.getJSON("/market/tickers")),
      M.soft(M.getJSON("/market/arbitrage", { limit: 200 })),
      M.soft(M.getJSON("/market/whales", { symbol: base, exchanges: exchanges || null, limit: 30 }))]);
    if (tk.error) {
      empty(tk.status === 404 ? "No live market view in this process: `liqmap serve` keeps one from the venues' tickers."
        : "Market view unavailable: " + tk.error);
      $("xv-title").textContent = base || ""; renderArbitrage({ data: [] }); renderWhales(wh); connect(null); st.group = null;
      return;
    }
    const group = pickGroup(tk.data, base);
    if (group !== st.group) { st.group = group; connect(group); }
    if (!group) {
      $("xv-title").textContent = base || "";
      empty("No ticker of " + base + " in the market view. Live, `liqmap serve` collects the tickers of --heatmap-symbols "
        + "(default BTC, ETH) on every venue" + (tk.meta.mode === "replay" ? "; this replay carries " + (tk.data.length
          ? tk.data.length + " other underlying(s): " + tk.data.slice(0, 8).map((g) => g.base + "/" + g.quote_family).join(", ")
          : "no tickers (liquidations only)") : "") + ".");
    } else if (changed || !st.last || !st.ws || st.ws.readyState !== 1) {
      const d = await M.soft(M.getJSON("/market/ticker", { symbol: group }));
      if (!d.error) renderTable(d.data);
    }
    $("xv-stale").textContent = "quotes older than " + age(tk.meta.stale_after_ms) + " are listed, not aggregated";
    renderArbitrage(arb.error ? arb : { data: arb.data.filter((o) => o.base === base) });
    renderWhales(wh);
  }

  window.LiqmapCrossView = { update };
})();
