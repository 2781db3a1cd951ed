// liqmap dashboard (/): the market chart of the selected underlying (market.js) beside its
// liquidation map, the live feed (/ws/liquidations), realized totals, cascades, venue health and the
// cross-exchange panel (crossview.js: venues table, arbitrage, whale tape).
// Every panel follows the selected symbol; every empty chart says why. No external resources.
// Venue and user strings are text nodes (M.el / textContent), never parsed as HTML.
"use strict";
(function () {
  const M = window.LiqmapMarket;
  const $ = (id) => document.getElementById(id);
  const el = M.el;
  const state = { mode: null, nowMs: null, loop: null, base: null, window: "2d", exchanges: null, feedAll: false,
                  large: null, institutional: null, cascadeMinUsd: null, ws: null, feedIds: new Set(),
                  bases: [], priceSymbols: [], colors: {}, lastEnd: null };
  const MAX_FEED = 150;
  const params = new URLSearchParams(location.search);

  function exParam() { return state.exchanges && state.exchanges.length ? state.exchanges.join(",") : null; }
  function priceSymbolOf(base) {
    const cands = [base + "USDT", base + "USDC", base + "USD", base];
    return cands.find((s) => state.priceSymbols.includes(s)) || null;
  }

  function applyMeta(meta) {
    if (!meta) return;
    state.mode = meta.mode; state.nowMs = meta.now_ms;
    if (meta.large_usd != null) state.large = meta.large_usd;
    if (meta.institutional_usd != null) state.institutional = meta.institutional_usd;
    if (meta.cascade_min_usd != null) state.cascadeMinUsd = meta.cascade_min_usd;
    const replay = meta.mode === "replay";
    $("mode-badge").classList.toggle("hidden", !replay);
    document.body.dataset.mode = meta.mode;
    const loop = meta.loop || null;
    if (loop && state.loop && loop.round !== state.loop.round) { $("feed").replaceChildren(); state.feedIds.clear(); loadRecent(); }
    state.loop = loop;
    $("loop-badge").classList.toggle("hidden", !loop);
    if (loop) $("loop-badge").textContent = "LOOP " + loop.round + " · " + M.fmtTime(loop.start_ms).slice(5, 16)
      + "–" + M.fmtTime(loop.end_ms).slice(11, 16);
    $("clock").textContent = M.fmtTime(meta.now_ms) + " UTC";  // beside the REPLAY badge, which says what it is
    $("clock").title = meta.mode === "replay" ? "replay clock: the newest replayed event" : "now (wall clock)";
  }

  function sourceNote(meta, d) {
    const parts = [];
    if (state.mode === "replay") parts.push([el("b", null, "Replay of real recorded exchange data"), "; \"now\" is the newest replayed event"
      + (state.loop ? ", and the newest recorded hour plays in a loop (marked LOOP)" : "") + "."]);
    if (d && d.kl && !d.kl.error && d.kl.source) parts.push("Candles: " + d.kl.source.split(" ")[0].replace("_history", "")
      + " of " + d.priceSymbol + (meta && meta.mode === "replay" ? " (Binance USD-M archive, shipped)" : "") + ".");
    if (d && d.hm && !d.hm.error) parts.push("Predicted levels: liqmap model " + d.hm.meta.params_version
      + " from Binance open interest and klines (an estimate).");
    if (d && d.rec && !d.rec.error) parts.push("Bubbles: realized liquidations as the venues published them.");
    if (d && d.ref && !d.ref.error && d.ref.data.length) parts.push("Lower strip: " + d.ref.meta.source + ".");
    M.setParts($("source-note"), parts);
  }

  async function loadPickers() {
    const [syms, prices, exs, health] = await Promise.all([M.getJSON("/liquidations/symbols"),
      M.soft(M.getJSON("/data/symbols")), M.soft(M.getJSON("/exchanges")), M.soft(M.getJSON("/health"))]);
    applyMeta(health.error ? syms.meta : health.meta);  // /health also carries the size tiers
    if (!health.error) M.recordings = health.recordings || null;  // the demo names its recordings
    state.priceSymbols = prices.symbols || [];
    const fromPrices = state.priceSymbols.map((s) => s.replace(/(USDT|USDC|USD)$/, ""));
    const bases = [...new Set([...Object.keys(syms.underlyings || {}), ...fromPrices])];
    const first = ["BTC", "ETH", "SOL"].filter((b) => bases.includes(b));
    state.bases = first.concat(bases.filter((b) => !first.includes(b)).sort());
    $("symbols").replaceChildren(...state.bases.map((b) => el("option", { value: b })));
    if (!state.base) {
      const want = (params.get("symbol") || "").toUpperCase().replace(/(USDT|USDC|USD)$/, "");
      state.base = state.bases.includes(want) ? want : state.bases.includes("BTC") ? "BTC" : state.bases[0] || null;
      $("symbol").value = state.base || "";
    }
    const box = $("exchange-picker");
    if (!box.dataset.built && exs.exchanges) {
      box.dataset.built = "1";
      for (const e of exs.exchanges) {
        if (e.color) state.colors[e.name] = e.color;
        const swatch = el("span", { className: "swatch" });
        swatch.style.background = e.color || "#888";
        box.appendChild(el("label", null, el("input", { type: "checkbox", value: e.name, checked: true }), " ", swatch, e.name));
      }
      $("exchange-count").textContent = "all " + exs.exchanges.length;
      box.addEventListener("change", pickExchanges);
      $("exchange-menu").querySelector(".menu-actions").addEventListener("click", (ev) => {
        const pick = ev.target.dataset && ev.target.dataset.pick;
        if (!pick) return;
        for (const i of box.querySelectorAll("input")) i.checked = pick === "all";
        pickExchanges();
      });
      // the menu closes on a click elsewhere or Escape, as a select does
      document.addEventListener("click", (ev) => { if (!$("exchange-menu").contains(ev.target)) $("exchange-menu").open = false; });
      document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") $("exchange-menu").open = false; });
    }
  }

  // the exchange menu's ticks -> state.exchanges (null = all) and its summary ("all 15", "3 of 15", "bybit");
  // with none ticked the panels keep the last choice until one is
  function pickExchanges() {
    const all = [...$("exchange-picker").querySelectorAll("input")];
    const on = all.filter((i) => i.checked).map((i) => i.value);
    $("exchange-count").textContent = on.length === all.length ? "all " + all.length : on.length === 1 ? on[0]
      : on.length ? on.length + " of " + all.length : "none: tick one";
    $("exchange-count").classList.toggle("bad", !on.length);
    if (!on.length) return;
    state.exchanges = on.length === all.length ? null : on;
    state.lastEnd = null; refresh(); loadRecent(); connectWs();
  }

  function renderStats(st) {
    $("totals").textContent = M.fmtUsd(st.total_usd) + " · " + st.count + (st.count === 1 ? " liquidation" : " liquidations");
    const el = $("split");
    if (!st.count) {
      Plotly.react(el, [], Object.assign({}, M.DARK, { margin: { l: 10, r: 10, t: 10, b: 10 }, xaxis: { visible: false },
        yaxis: { visible: false }, annotations: [{ text: "No realized " + state.base + " liquidation in this window"
          + (state.mode === "live" ? ";<br>serve stores them as the venues publish" : ""), showarrow: false,
          xref: "paper", yref: "paper", x: 0.5, y: 0.5, font: { color: "#8b949e", size: 12 } }] }), { displayModeBar: false });
      return;
    }
    const ex = st.by_exchange;
    Plotly.react(el, [
      { type: "bar", orientation: "h", y: ["long", "short"], x: [st.long_usd, st.short_usd], marker: { color: ["#f0515b", "#1fc77e"] },
        text: [M.fmtUsd(st.long_usd), M.fmtUsd(st.short_usd)], textposition: "auto", hovertemplate: "%{x:$,.0f}<extra></extra>" },
      { type: "bar", orientation: "h", y: ex.map((e) => e.exchange), x: ex.map((e) => e.value_usd), xaxis: "x2", yaxis: "y2",
        marker: { color: ex.map((e) => state.colors[e.exchange] || "#888") }, text: ex.map((e) => M.fmtUsd(e.value_usd)),
        textposition: "auto", hovertemplate: "%{y}: %{x:$,.0f}<extra></extra>" },
    ], Object.assign({}, M.DARK, { showlegend: false, margin: { l: 70, r: 10, t: 6, b: 20 },
      xaxis: { domain: [0, 1], anchor: "y", tickformat: "$.2s", gridcolor: "#222a33" }, yaxis: { domain: [0.62, 1] },
      xaxis2: { domain: [0, 1], anchor: "y2", tickformat: "$.2s", gridcolor: "#222a33" },
      yaxis2: { domain: [0, 0.5], anchor: "x2", autorange: "reversed" } }), { displayModeBar: false, responsive: true });
  }

  function renderCascades(cs) {
    const ul = $("cascades"); ul.replaceChildren();
    const rows = (cs.detected || []).map((c) => Object.assign({ tag: c.severity + (c.status === "active" ? " · ACTIVE" : "") }, c))
      .concat(cs.detected && cs.detected.length ? [] : cs.cascades.map((c) => Object.assign({ tag: "burst" }, c)));
    $("cascade-info").textContent = "≥ " + M.fmtUsd(cs.meta.min_usd) + " in " + cs.meta.window_seconds + " s";
    if (!rows.length) {
      ul.appendChild(el("li", { className: "muted" }, "No " + state.base + " cascade in this window (≥ " + cs.meta.min_count
        + " liquidations totalling ≥ " + M.fmtUsd(cs.meta.min_usd) + " within " + cs.meta.window_seconds + " s)."));
      return;
    }
    for (const c of rows.slice(0, 20)) {
      const li = document.createElement("li");
      li.className = "cascade " + c.dominant_side + " sev-" + (c.severity || "burst");
      li.textContent = "[" + c.tag + "] " + M.fmtTime(c.start_ms).slice(0, 16) + " " + c.base + " " + M.fmtUsd(c.value_usd)
        + " in " + c.count + " liqs, " + c.dominant_side + "s [" + c.exchanges.join(",") + "]";
      ul.appendChild(li);
    }
  }

  function renderHealth(h) {
    const tb = $("health").querySelector("tbody"); tb.replaceChildren();
    for (const e of h.exchanges) {
      if (!e.events && state.mode === "replay") continue;
      const st = e.status.split(" ")[0];
      tb.appendChild(el("tr", null, el("td", null, e.exchange), el("td", { className: "st-" + st }, e.status),
        el("td", null, e.events), el("td", null, e.last_event_ms ? M.fmtTime(e.last_event_ms).slice(0, 16) : "–")));
    }
  }

  function addFeedRow(ev, fresh) {
    if (state.feedIds.has(ev.id)) return;
    if (!state.feedAll && state.base && ev.base !== state.base) return;
    state.feedIds.add(ev.id);
    const li = document.createElement("li");
    const tier = state.institutional != null && ev.value_usd >= state.institutional ? "tier-institutional"
      : state.large != null && ev.value_usd >= state.large ? "tier-large" : "tier-retail";
    li.className = "feed-row " + ev.side + " " + tier + (fresh ? " fresh" : "");
    li.dataset.id = ev.id; li.dataset.exchange = ev.exchange; li.dataset.usd = ev.value_usd; li.dataset.ts = ev.timestamp;
    const cells = [M.fmtTime(ev.timestamp), ev.exchange, ev.symbol, ev.side,
                   M.fmtPrice(ev.price) + (M.USD_QUOTES.includes((ev.quote || "").toUpperCase()) ? "" : " " + ev.quote),
                   M.fmtUsd(ev.value_usd)];
    for (const c of cells) { const s = document.createElement("span"); s.textContent = c; li.appendChild(s); }
    const feed = $("feed");
    if (fresh) feed.insertBefore(li, feed.firstChild); else feed.appendChild(li);
    while (feed.querySelectorAll("li.feed-row").length > MAX_FEED) { const last = feed.lastChild; state.feedIds.delete(last.dataset.id); feed.removeChild(last); }
  }

  async function loadRecent() {
    const r = await M.soft(M.getJSON("/liquidations/recent", { symbol: state.feedAll ? null : state.base,
      exchanges: exParam(), limit: 60 }));
    $("feed").replaceChildren(); state.feedIds.clear();
    if (r.error) return;
    for (const ev of r.liquidations) addFeedRow(ev, false);
    M.markRecordings($("feed"));
    if (!r.liquidations.length) $("feed").appendChild(el("li", { className: "muted" }, "No " + (state.feedAll ? "" : state.base + " ")
      + "liquidation stored yet; new ones appear here as they arrive."));
  }

  function connectWs() {
    if (state.ws) { state.ws.onclose = null; state.ws.close(); }
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const q = new URLSearchParams({ batch: "true" });
    if (exParam()) q.set("exchanges", exParam());
    const ws = new WebSocket(proto + "//" + location.host + "/ws/liquidations?" + q);
    state.ws = ws;
    ws.onopen = () => { $("ws-state").textContent = "connected"; };
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.type === "hello") { applyMeta(msg.meta); return; }
      const items = msg.type === "batch" ? msg.messages : msg.type === "liquidation" ? [msg] : [];
      for (const it of items) {
        const empty = $("feed").querySelector("li.muted"); if (empty) empty.remove();
        addFeedRow(it.data, true);
        if (state.mode === "replay" && it.data.timestamp > (state.nowMs || 0)) applyMeta(Object.assign({}, { mode: "replay",
          now_ms: it.data.timestamp, loop: state.loop }));
        window.liqmapFeedCount = (window.liqmapFeedCount || 0) + 1;
      }
      if (items.length) M.markRecordings($("feed"));
    };
    ws.onclose = () => { $("ws-state").textContent = "reconnecting…"; setTimeout(connectWs, 2000); };
  }

  let busy = false;
  async function refresh(first) {
    if (busy) return; busy = true;
    const t0 = performance.now();
    try {
      // the first refresh follows loadPickers, whose answer carried "now" already
      const h = first === true && state.nowMs != null ? { meta: null } : await M.getJSON("/health");
      applyMeta(h.meta);
      if (!state.bases.length || !state.base) await loadPickers();
      const base = state.base;
      const winMs = M.WINDOW_MS[state.window];
      const iv = M.intervalFor(winMs);
      const end = state.mode === "live" ? Date.now() : state.nowMs;
      const ivMs = M.INTERVAL_MS[iv];
      const colEnd = Math.floor(end / ivMs) * ivMs;
      const q = { symbol: base, start_time: colEnd - winMs, end_time: end, exchanges: exParam() };
      const chartDue = state.lastEnd !== colEnd + "|" + base + "|" + state.window + "|" + exParam();
      // the side panels load beside the chart and never hold it back (stats is the slowest read)
      const panels = Promise.all([
        M.soft(M.getJSON("/liquidations/stats", q)),
        M.soft(M.getJSON("/liquidations/cascades", Object.assign({}, q, { min_usd: state.cascadeMinUsd }))),
        M.soft(M.getJSON("/exchanges/health")),
      ]);
      const d = chartDue ? await M.load({ base, priceSymbol: priceSymbolOf(base), interval: iv, windowMs: winMs, end,
                                          withMap: true, exchanges: exParam() }) : null;
      performance.mark("liqmap-data");
      await M.ready;
      performance.mark("liqmap-plotly");
      if (d) {
        const counts = M.drawChart($("chart"), d);
        M.drawMap($("liqmap"), d.lm, M.lastRange);
        state.lastEnd = colEnd + "|" + base + "|" + state.window + "|" + exParam();
        $("chart-title").textContent = base + (d.priceSymbol ? " (" + d.priceSymbol + ")" : "") + " — price, predicted liquidation levels, realized liquidations";
        $("chart-info").textContent = iv + " candles · " + counts.bubbles + " realized"
          + (counts.other_quote ? " · " + counts.other_quote + " quoted in another currency not drawn" : "");
        M.mapInfo($("map-info"), d.lm);
        sourceNote(h.meta || { mode: state.mode }, d);
        performance.mark("liqmap-drawn");
        if (!window.liqmapFirstPaint) { window.liqmapFirstPaint = performance.now(); document.body.dataset.ready = "1"; }
      }
      const [st, cs, hl] = await panels;
      if (!st.error) renderStats(st);
      if (!cs.error) renderCascades(cs);
      if (!hl.error) renderHealth(hl);
      window.LiqmapCrossView.update(base, exParam()).catch((e) => console.warn("cross-exchange:", e.message || e));
      window.liqmapRefreshMs = performance.now() - t0;
    } catch (e) { console.warn("refresh failed:", e.message || e); }
    finally { busy = false; }
  }

  $("symbol").addEventListener("change", (e) => {
    const v = e.target.value.trim().toUpperCase().replace(/(USDT|USDC|USD)$/, "");
    if (!state.bases.includes(v)) { e.target.classList.add("bad"); return; }
    e.target.classList.remove("bad"); e.target.value = v;  // "btcusdt" -> BTC: the underlying shown
    state.base = v; state.lastEnd = null;
    $("levels-link").href = "/static/heatmap.html?symbol=" + (priceSymbolOf(v) || v + "USDT");
    refresh(); loadRecent();
  });
  $("window").addEventListener("change", (e) => { state.window = e.target.value; state.lastEnd = null; refresh(); });
  $("feed-all").addEventListener("change", (e) => { state.feedAll = e.target.checked; loadRecent(); });
  if (params.get("window") && M.WINDOW_MS[params.get("window")]) { state.window = params.get("window"); $("window").value = state.window; }

  (async function init() {
    try { await loadPickers(); } catch (e) { console.warn("pickers:", e.message); }
    await refresh(true);
    loadRecent();
    connectWs();
    setInterval(refresh, 5000);
  })();
})();
