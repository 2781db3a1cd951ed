// liqmap market chart, shared by the dashboard (/) and the Predicted levels page: candles, the
// model's predicted liquidation levels as a heatmap behind them, realized liquidations as bubbles
// sized by USD, the current price line, and a strip of realized liquidations per bucket below;
// plus the Coinglass-style liquidation map (cumulative long/short USD by price, stacked by
// leverage tier). Data: /prices/klines, /liquidations/heatmap-timeseries, /liquidations/recent,
// /reference/realized-hourly, /liquidations/liquidation-map. No external resources.
"use strict";
(function () {
  const M = {};
  // resolves once plotly.js (loaded async, see index.html) has run: draw only after it. The mark
  // "liqmap-plotly-ready" (benchmarks/bench_dashboard.py) is when that was first seen.
  M.ready = new Promise((resolve) => {
    const done = () => { if (!M.plotlyReady) { M.plotlyReady = true; performance.mark("liqmap-plotly-ready"); } resolve(); };
    if (window.Plotly) return done();
    const tag = document.getElementById("plotly-js");
    if (tag) tag.addEventListener("load", done);
    const poll = setInterval(() => { if (window.Plotly) { clearInterval(poll); done(); } }, 50);
  });
  const BG = "#161b22";
  M.DARK = { paper_bgcolor: BG, plot_bgcolor: BG, font: { color: "#d6dde6", size: 11 } };
  M.INTERVAL_MS = { "5m": 300000, "15m": 900000, "30m": 1800000, "1h": 3600000, "4h": 14400000 };
  M.WINDOW_MS = { "6h": 6 * 3600000, "12h": 12 * 3600000, "1d": 86400000, "2d": 2 * 86400000, "3d": 3 * 86400000,
                  "7d": 7 * 86400000, "14d": 14 * 86400000, "30d": 30 * 86400000 };
  // fixed margins (no auto-expansion for legends), so the chart's and the map's price axes line up
  M.MARGIN_CHART = { l: 64, r: 64, t: 26, b: 34, autoexpand: false };
  M.MARGIN_MAP = { l: 8, r: 56, t: 26, b: 34, autoexpand: false };
  M.USD_QUOTES = ["USD", "USDT", "USDC"];
  // price axes: thousands separated, no SI suffix (88,500 not 88.5k), the decimals a sub-dollar coin needs
  M.PRICE_TICKS = { separatethousands: true, exponentformat: "none" };  // liqmap.symbols.USD_QUOTES: one USD price axis
  const TIER_COLORS = ["#5b8def", "#e8a33d", "#d9534f", "#9b59b6", "#16a085"];

  M.fmtUsd = (v) => v == null || !isFinite(v) ? "–" : Math.abs(v) >= 1e9 ? "$" + (v / 1e9).toFixed(2) + "B"
    : Math.abs(v) >= 1e6 ? "$" + (v / 1e6).toFixed(2) + "M" : Math.abs(v) >= 1e3 ? "$" + (v / 1e3).toFixed(1) + "K"
    : "$" + v.toFixed(0);
  M.fmtTime = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);
  M.fmtPrice = (p) => p >= 1000 ? p.toLocaleString("en-US", { maximumFractionDigits: 1 })
    : p >= 1 ? p.toFixed(3) : p.toPrecision(4);
  M.intervalFor = (windowMs) => windowMs <= 12 * 3600000 ? "5m" : windowMs <= 2 * 86400000 ? "15m"
    : windowMs <= 7 * 86400000 ? "1h" : "4h";

  // DOM without HTML parsing: every venue/user string is a text node (never innerHTML).
  // M.el("li", { className: "muted" }, "text", M.el("b", null, "bold")); props are element properties.
  M.el = function (tag, props, ...children) {
    const e = document.createElement(tag);
    if (props) Object.assign(e, props);
    e.append(...children.filter((c) => c != null).map((c) => (c instanceof Node ? c : String(c))));
    return e;
  };
  // a list of events (li with data-exchange and data-ts) drawn from several recordings (liqmap demo:
  // /health recordings, kept in M.recordings): a heading row before each run of rows of one
  // recording names it, so rows of 2025-12 beside rows of 2025-01 read as two recordings
  M.recordings = null;
  M.markRecordings = function (ul) {
    for (const s of [...ul.querySelectorAll("li.rec-sep")]) s.remove();
    if (!M.recordings || !M.recordings.length) return;
    let prev = null;
    for (const li of [...ul.children]) {
      if (li.dataset.ts === undefined) continue;
      const ts = Number(li.dataset.ts);
      const r = M.recordings.find((x) => x.exchange === li.dataset.exchange && x.start_ms <= ts && ts <= x.end_ms);
      const name = "recording: " + (r ? r.name : "none of the demo's");
      li.title = name;
      if (name !== prev) ul.insertBefore(M.el("li", { className: "rec-sep" }, name), li);
      prev = name;
    }
  };
  // node's content := the parts (a string, a node, or an array of them) separated by spaces
  M.setParts = (node, parts) => node.replaceChildren(...parts.flatMap((p, i) => [...(i ? [" "] : []), ...[].concat(p)]));
  // a string shown in a Plotly text (hover, annotation): Plotly reads a few tags (<b>, <br>), so
  // a venue or user string is entity-escaped to show as written
  M.plotText = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

  M.getJSON = async function (path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v != null && v !== "") q.set(k, v);
    const r = await fetch(path + (q.toString() ? "?" + q : ""));
    const body = await r.json().catch(() => ({}));
    if (!r.ok) {
      const d = body && body.detail;
      const err = new Error((d && (d.reason || (typeof d === "string" ? d : JSON.stringify(d)))) || r.statusText);
      err.status = r.status;
      throw err;
    }
    return body;
  };
  // a failed fetch becomes {error} so one missing source never blanks the others
  M.soft = (p) => p.catch((e) => ({ error: e.message || String(e), status: e.status }));

  // ---------------------------------------------------------------- data
  // Everything one chart needs for `sym` (underlying, e.g. BTC) and its archive symbol (BTCUSDT)
  // over [start, end] at `iv` columns. end is the last complete column: nothing after "now".
  M.niceStep = function (raw) {
    const e = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * e) return m * e;
    return 10 * e;
  };
  // end of the price history of `symbol` (ms) or null; a window ending at "now" that holds none of
  // it would be empty, so such a window ends at the data instead (a database of old history)
  const ranges = new Map();
  M.priceEnd = async function (symbol) {
    const hit = ranges.get(symbol);
    if (hit && performance.now() - hit.at < 60000) return hit.end;
    const r = await M.soft(M.getJSON("/data/date-range", { symbol }));
    let end = null;
    for (const [t, v] of Object.entries(r.tables || {})) {
      const m = /^klines_(\w+)_history$/.exec(t);
      if (m && M.INTERVAL_MS[m[1]] != null) end = Math.max(end || 0, v.end + M.INTERVAL_MS[m[1]]);
      else if (m) end = Math.max(end || 0, v.end + 60000);
    }
    ranges.set(symbol, { at: performance.now(), end });
    return end;
  };
  M.load = async function (o) {
    const ivMs = M.INTERVAL_MS[o.interval];
    const priced = o.priceSymbol != null;
    if (priced && ranges.has(o.priceSymbol)) {  // known to end before this window: end there (no request)
      const pe = ranges.get(o.priceSymbol).end;
      if (pe != null && pe < o.end - o.windowMs) o = Object.assign({}, o, { end: pe, shifted: true });
    }
    let end = Math.floor(o.end / ivMs) * ivMs, start = end - o.windowMs;
    // candles first: their range sets the price bin (about 90 rows over the candles' range)
    const [kl, rec, ref] = await Promise.all([
      priced ? M.soft(M.getJSON("/prices/klines", { symbol: o.priceSymbol, interval: o.interval, start_time: start,
        end_time: end, limit: 5000 })) : null,
      o.base ? M.soft(M.getJSON("/liquidations/recent", { symbol: o.base, start_time: start, end_time: o.end,
        limit: 1000, exchanges: o.exchanges })) : null,
      o.base ? M.soft(M.getJSON("/reference/realized-hourly", { symbol: o.base, start_time: start, end_time: o.end })) : null,
    ]);
    if (priced && !o.shifted && kl && (kl.error || !kl.data.length)) {
      // nothing in a window ending at "now": a database of older history ends the window at its data
      const pe = await M.priceEnd(o.priceSymbol);
      if (pe != null && pe < o.end - o.windowMs) return M.load(Object.assign({}, o, { end: pe, shifted: true }));
    }
    let bin = null;
    if (kl && !kl.error && kl.data.length) {
      const lo = Math.min(...kl.data.map((k) => k.low)), hi = Math.max(...kl.data.map((k) => k.high));
      const last = kl.data[kl.data.length - 1].close;
      bin = M.niceStep(Math.max((hi - lo) * 1.7 / 90, last * 0.0002));
    }
    const [hm, lm] = await Promise.all([
      priced ? M.soft(M.getJSON("/liquidations/heatmap-timeseries", { symbol: o.priceSymbol, interval: o.interval,
        start_time: start, end_time: end, band_pct: o.bandPct || 10, bin_size: bin })) : null,
      priced && o.withMap ? M.soft(M.getJSON("/liquidations/liquidation-map", { symbol: o.priceSymbol, end_time: end,
        bin_size: bin })) : null,
    ]);
    return { start, end, interval: o.interval, ivMs, base: o.base, priceSymbol: o.priceSymbol, kl, hm, rec, ref, lm,
             shifted: !!o.shifted };
  };

  function levelsGrid(hm, side) {
    const prices = new Set();
    for (const col of hm.data) for (const lv of col.levels) prices.add(lv.price);
    const y = Array.from(prices).sort((a, b) => a - b);
    const row = new Map(y.map((p, i) => [p, i]));
    const z = y.map(() => new Array(hm.data.length).fill(null));
    const txt = y.map(() => new Array(hm.data.length).fill(""));
    const vals = [];
    hm.data.forEach((col, j) => {
      for (const lv of col.levels) {
        const v = side === "long" ? lv.long : side === "short" ? lv.short : lv.long + lv.short;
        if (v > 0) {
          const i = row.get(lv.price);
          z[i][j] = v; vals.push(v);
          txt[i][j] = "long " + M.fmtUsd(lv.long) + " · short " + M.fmtUsd(lv.short);
        }
      }
    });
    vals.sort((a, b) => a - b);
    return { y, z, txt, zmax: vals.length ? vals[Math.floor(0.995 * (vals.length - 1))] : 1 };
  }

  function emptyNote(text, y) {
    return { text, showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: y == null ? 0.6 : y,
             font: { size: 13, color: "#c9d1d9" }, bgcolor: "rgba(13,17,23,0.85)", bordercolor: "#30363d",
             borderpad: 8, align: "center" };
  }

  // ---------------------------------------------------------------- main chart
  // Returns {counts} of what was drawn (for tests and the info line).
  M.drawChart = function (el, d, opts) {
    opts = opts || {};
    const traces = [], notes = [], shapes = [];
    const half = d.ivMs / 2;
    let lo = Infinity, hi = -Infinity, lastClose = null;
    const counts = { candles: 0, levels: 0, bubbles: 0, other_quote: 0, realized_bars: 0 };
    const candles = d.kl && !d.kl.error ? d.kl.data : [];
    const cols = d.hm && !d.hm.error ? d.hm.data : [];
    if (cols.length) {
      const g = levelsGrid(d.hm, opts.side || "both");
      const bin = d.hm.meta.bin_size;
      traces.push({ type: "heatmap", name: "predicted levels", x: cols.map((c) => new Date(c.timestamp - half)),
        y: g.y.map((p) => p + bin / 2), z: g.z, text: g.txt, zmin: 0, zmax: g.zmax, hoverongaps: false,
        // most of a band sits at half the peak or more: keep yellow for the densest clusters (as Coinglass)
        colorscale: [[0, "rgba(22,27,34,0)"], [0.05, "#1d1442"], [0.35, "#3b1f7a"], [0.6, "#2a6f8f"], [0.8, "#22a884"], [0.93, "#9bd93c"], [1, "#fde725"]],
        colorbar: { title: { text: "est. USD", side: "right" }, thickness: 8, len: 0.72, y: 0.62, x: 1.0, tickfont: { size: 9 } },
        hovertemplate: "%{x|%b %d %H:%M}<br>level %{y:,.6~r}<br>est. %{z:$,.0f} open<br>%{text}<extra>predicted</extra>" });
      counts.levels = g.z.reduce((n, r) => n + r.filter((v) => v != null).length, 0);
      lo = Math.min(lo, g.y[0]); hi = Math.max(hi, g.y[g.y.length - 1] + bin);
    }
    if (candles.length) {
      traces.push({ type: "candlestick", name: d.priceSymbol, x: candles.map((k) => new Date(k.open_time + half)),
        open: candles.map((k) => k.open), high: candles.map((k) => k.high), low: candles.map((k) => k.low),
        close: candles.map((k) => k.close), increasing: { line: { color: "#e6edf3", width: 1 }, fillcolor: "#e6edf3" },
        decreasing: { line: { color: "#ff6b6b", width: 1 }, fillcolor: "#ff6b6b" }, whiskerwidth: 0.3 });
      counts.candles = candles.length;
      lastClose = candles[candles.length - 1].close;
      const cl = Math.min(...candles.map((k) => k.low)), ch = Math.max(...candles.map((k) => k.high));
      // price axis: the candles with a margin; levels further out stay reachable by zooming
      const pad = (ch - cl) * 0.35 + lastClose * 0.004;
      lo = cl - pad; hi = ch + pad;
    }
    const rec = d.rec && !d.rec.error ? d.rec.liquidations : [];
    const usdQuoted = rec.filter((e) => M.USD_QUOTES.includes((e.quote || "").toUpperCase()));
    counts.other_quote = rec.length - usdQuoted.length;
    for (const side of ["long", "short"]) {
      const ev = usdQuoted.filter((e) => e.side === side);
      if (!ev.length) continue;
      traces.push({ type: "scatter", mode: "markers", name: side + "s liquidated", x: ev.map((e) => new Date(e.timestamp)),
        y: ev.map((e) => e.price), customdata: ev.map((e) => [e.value_usd, M.plotText(e.exchange), M.plotText(e.symbol)]),
        marker: { size: ev.map((e) => e.value_usd), sizemode: "area", sizeref: 2 * 250000 / (38 * 38), sizemin: 4,
                  color: side === "long" ? "rgba(240,81,91,0.75)" : "rgba(31,199,126,0.75)",
                  line: { color: "#fff", width: 0.6 } },
        hovertemplate: "%{customdata[1]} %{customdata[2]}<br>" + side + " liquidated %{customdata[0]:$,.0f}<br>@ %{y:,.6~r}"
          + "<br>%{x|%b %d %H:%M:%S}<extra>realized</extra>" });
      counts.bubbles += ev.length;
      if (!candles.length) for (const e of ev) { lo = Math.min(lo, e.price); hi = Math.max(hi, e.price); }
    }
    if (!candles.length && !cols.length && isFinite(lo)) {  // bubbles only: keep them off the edges
      const pad = Math.max((hi - lo) * 0.15, (hi + lo) / 2 * 0.003);
      lo -= pad; hi += pad;
    }
    if (lastClose != null) {
      shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, yref: "y", y0: lastClose, y1: lastClose,
                    line: { color: "#f2b134", width: 1, dash: "dot" } });
      notes.push({ text: M.fmtPrice(lastClose), xref: "paper", x: 1, xanchor: "right", yref: "y", y: lastClose,
                   showarrow: false, font: { color: "#111", size: 10 }, bgcolor: "#f2b134", borderpad: 2 });
    }
    // realized strip: CoinGlass hourly reference when it covers the window, else our own buckets
    const ref = d.ref && !d.ref.error ? d.ref.data : [];
    let stripTitle = "realized / h";
    if (ref.length) {
      traces.push({ type: "bar", name: "longs liquidated (CoinGlass)", x: ref.map((r) => new Date(r.t_ms - 1800000)),
        y: ref.map((r) => r.long_usd), yaxis: "y2", marker: { color: "#f0515b" }, width: 3000000,
        hovertemplate: "%{x|%b %d %H:00}<br>longs liquidated %{y:$,.0f}<extra>CoinGlass hourly</extra>" });
      traces.push({ type: "bar", name: "shorts liquidated (CoinGlass)", x: ref.map((r) => new Date(r.t_ms - 1800000)),
        y: ref.map((r) => -r.short_usd), customdata: ref.map((r) => r.short_usd), yaxis: "y2",
        marker: { color: "#1fc77e" }, width: 3000000,
        hovertemplate: "%{x|%b %d %H:00}<br>shorts liquidated %{customdata:$,.0f}<extra>CoinGlass hourly</extra>" });
      counts.realized_bars = ref.length;
      stripTitle = "CoinGlass / h";
    } else if (usdQuoted.length) {
      const b = new Map();
      for (const e of usdQuoted) {
        const t = Math.floor(e.timestamp / d.ivMs) * d.ivMs;
        const v = b.get(t) || [0, 0]; v[e.side === "long" ? 0 : 1] += e.value_usd; b.set(t, v);
      }
      const ts = [...b.keys()].sort((a, c) => a - c);
      traces.push({ type: "bar", name: "longs / " + d.interval, x: ts.map((t) => new Date(t + half)), y: ts.map((t) => b.get(t)[0]),
        yaxis: "y2", marker: { color: "#f0515b" }, hovertemplate: "%{y:$,.0f}<extra>longs</extra>" });
      traces.push({ type: "bar", name: "shorts / " + d.interval, x: ts.map((t) => new Date(t + half)), y: ts.map((t) => -b.get(t)[1]),
        yaxis: "y2", marker: { color: "#1fc77e" }, hovertemplate: "%{y:$,.0f}<extra>shorts</extra>" });
      counts.realized_bars = ts.length;
      stripTitle = "realized / " + d.interval;
    }
    if (d.shifted) notes.push(Object.assign(emptyNote("price history ends " + M.fmtTime(d.end).slice(0, 16)
      + " UTC: the window ends there"), { y: 1, yanchor: "top", font: { size: 10, color: "#d9cba3" } }));
    // empty states: say why and what to do
    if (!candles.length && !cols.length) {
      const sym = M.plotText(d.priceSymbol || d.base + "USDT");
      const why = d.priceSymbol == null ? "No price history for " + M.plotText(d.base) + " in this database."
        : M.plotText(d.kl && d.kl.error ? d.kl.error : "No candles for " + d.priceSymbol + " in this window.");
      notes.push(emptyNote(why + "<br>Get history: <b>liqmap download --symbol " + sym
        + " --start-date … --end-date …</b><br>or <b>liqmap backfill -s " + sym
        + "</b>, or let <b>liqmap serve</b> collect it for a few minutes.",
        counts.bubbles ? 0.99 : null));  // at the top when there are bubbles to see
      if (counts.bubbles) Object.assign(notes[notes.length - 1], { yanchor: "top" });
    } else if (!cols.length) {
      notes.push(emptyNote("No predicted levels: " + M.plotText(d.hm && d.hm.error ? d.hm.error : "no open interest in this window")
        + "<br>The model needs open interest: <b>liqmap download --data metrics</b> or <b>liqmap backfill</b>.", 0.92));
    }
    if (!rec.length && (candles.length || cols.length)) {
      notes.push(Object.assign(emptyNote(M.plotText("No realized " + d.base + " liquidation stored in this window"
        + (d.rec && d.rec.error ? " (" + d.rec.error + ")" : ""))), { x: 0.005, xanchor: "left", y: 0.245, yanchor: "bottom",
        font: { size: 11, color: "#8b949e" }, borderpad: 3 }));  // bottom left of the price panel, clear of the strip
    }
    if (!ref.length && !usdQuoted.length) notes.push(Object.assign(emptyNote("no realized liquidations to sum here", 0.09),
      { font: { size: 10, color: "#6e7681" }, bgcolor: "rgba(0,0,0,0)", bordercolor: "rgba(0,0,0,0)" }));
    const layout = Object.assign({}, M.DARK, {
      margin: M.MARGIN_CHART, showlegend: true, barmode: "relative", bargap: 0.1,
      legend: { orientation: "h", x: 0, y: 1.0, yanchor: "bottom", font: { size: 10 }, bgcolor: "rgba(0,0,0,0)" },
      hovermode: "closest", dragmode: "zoom",
      xaxis: { type: "date", anchor: "y2", gridcolor: "#222a33", rangeslider: { visible: false },
               range: [new Date(d.start), new Date(d.end + d.ivMs)] },
      yaxis: { domain: [0.24, 1], gridcolor: "#222a33", title: { text: "USD", standoff: 4 }, ...M.PRICE_TICKS,
               range: isFinite(lo) ? [lo, hi] : undefined, fixedrange: false },
      yaxis2: { domain: [0, 0.19], gridcolor: "#222a33", title: { text: stripTitle, font: { size: 10 } }, tickformat: "$.2s",
                zeroline: true, zerolinecolor: "#444" },
      shapes, annotations: notes,
    });
    Plotly.react(el, traces, layout, { displayModeBar: false, responsive: true });
    el.dataset.candles = counts.candles; el.dataset.levels = counts.levels; el.dataset.bubbles = counts.bubbles;
    el.dataset.rendered = "1";
    M.lastRange = isFinite(lo) ? [lo, hi] : null;
    return counts;
  };

  // ---------------------------------------------------------------- liquidation map
  // the map panel's heading: when the map stands (short: it must fit a 1280 px panel); what it
  // shows is the heading's tooltip
  M.mapInfo = function (info, lm) {
    const ok = lm && !lm.error;
    info.textContent = ok ? "at " + M.fmtTime(lm.meta.time_ms).slice(5, 16) + " UTC" : "";
    info.parentElement.title = ok ? "Estimated USD that would be liquidated per price bin, stacked by leverage tier. "
      + "Σ longs: cumulative longs liquidated if the price falls to a level; Σ shorts: if it rises to it." : "";
  };
  M.drawMap = function (el, lm, yRange) {
    if (!lm || lm.error || !lm.levels || !lm.levels.length) {
      Plotly.react(el, [], Object.assign({}, M.DARK, { margin: { l: 10, r: 10, t: 10, b: 30 },
        xaxis: { visible: false }, yaxis: { visible: false },
        annotations: [emptyNote("No liquidation map: " + M.plotText(lm && lm.error ? lm.error : "no predicted levels")
          + "<br>(it needs price and open interest history)", 0.5)] }), { displayModeBar: false, responsive: true });
      el.dataset.rendered = "0";
      return 0;
    }
    const m = lm.meta, bin = m.bin_size, price = m.price;
    const levels = lm.levels.filter((l) => !yRange || (l.price + bin >= yRange[0] && l.price <= yRange[1]));
    const y = levels.map((l) => l.price + bin / 2);
    const traces = m.tiers.map((t, i) => ({
      type: "bar", orientation: "h", name: t, y, x: levels.map((l) => (l.price + bin / 2 < price ? l.long[i] : l.short[i])),
      marker: { color: TIER_COLORS[i % TIER_COLORS.length] }, customdata: levels.map((l) => [l.long[i], l.short[i]]),
      hovertemplate: "%{y:,.6~r}<br>" + t + ": long %{customdata[0]:$,.0f} · short %{customdata[1]:$,.0f}<extra></extra>",
    }));
    // cumulative: longs from the price downward, shorts from the price upward
    const below = levels.filter((l) => l.price + bin / 2 < price).sort((a, b) => b.price - a.price);
    const above = levels.filter((l) => l.price + bin / 2 >= price).sort((a, b) => a.price - b.price);
    let acc = 0; const cl = below.map((l) => (acc += l.long.reduce((s, v) => s + v, 0)));
    acc = 0; const cs = above.map((l) => (acc += l.short.reduce((s, v) => s + v, 0)));
    traces.push({ type: "scatter", mode: "lines", name: "Σ longs", xaxis: "x2", y: below.map((l) => l.price + bin / 2), x: cl,
                  line: { color: "#f0515b", width: 2 }, hovertemplate: "longs liquidated if price falls to %{y:,.6~r}: %{x:$,.0f}<extra></extra>" });
    traces.push({ type: "scatter", mode: "lines", name: "Σ shorts", xaxis: "x2", y: above.map((l) => l.price + bin / 2), x: cs,
                  line: { color: "#1fc77e", width: 2 }, hovertemplate: "shorts liquidated if price rises to %{y:,.6~r}: %{x:$,.0f}<extra></extra>" });
    const layout = Object.assign({}, M.DARK, {
      margin: M.MARGIN_MAP, barmode: "stack", bargap: 0.05, showlegend: false,
      // a one-line legend that fits the narrow panel (Plotly's would wrap upwards out of view)
      annotations: [...m.tiers.map((t, i) => [t, TIER_COLORS[i % TIER_COLORS.length]]),
                    ["Σ longs", "#f0515b"], ["Σ shorts", "#1fc77e"]].map(([t, c], i) => ({
        text: "<b>" + (i < m.tiers.length ? "■ " : "— ") + t + "</b>", font: { size: 10, color: c }, showarrow: false,
        xref: "paper", yref: "paper", x: [0, 0.15, 0.3, 0.49, 0.75][i] ?? i * 0.2, xanchor: "left", y: 1.0,
        yanchor: "bottom" })),
      xaxis: { tickformat: "$.2s", gridcolor: "#222a33" },
      xaxis2: { overlaying: "x", side: "top", showgrid: false, showticklabels: false, zeroline: false },
      yaxis: { side: "right", ...M.PRICE_TICKS, gridcolor: "#222a33", domain: [0.24, 1],
               range: yRange || undefined },
      shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, yref: "y", y0: price, y1: price,
                 line: { color: "#f2b134", width: 1, dash: "dot" } }],
    });
    Plotly.react(el, traces, layout, { displayModeBar: false, responsive: true });
    el.dataset.rendered = String(levels.length);
    return levels.length;
  };

  window.LiqmapMarket = M;
})();
