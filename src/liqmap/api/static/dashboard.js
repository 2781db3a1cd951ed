// liqmap dashboard: polls the HTTP API for aggregates and listens on /ws/liquidations
// for the live feed. No external resources; plotly.js comes from /static/plotly.min.js.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const state = { mode: null, nowMs: null, symbol: null, timeframe: "24h", exchanges: null,
                  large: null, institutional: null, cascadeMinUsd: null, ws: null, feedIds: new Set(), known: {},
                  colors: {} };
  const MAX_FEED = 200;
  const DARK = { paper_bgcolor: "#161b22", plot_bgcolor: "#161b22", font: { color: "#d6dde6", size: 11 },
                 margin: { l: 60, r: 10, t: 10, b: 40 } };

  const fmtUsd = (v) => v == null ? "–" : v >= 1e9 ? "$" + (v / 1e9).toFixed(2) + "B"
    : v >= 1e6 ? "$" + (v / 1e6).toFixed(2) + "M" : v >= 1e3 ? "$" + (v / 1e3).toFixed(1) + "K" : "$" + v.toFixed(0);
  const fmtTime = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);
  const fmtPrice = (p) => p >= 1000 ? p.toFixed(1) : p >= 1 ? p.toFixed(3) : p.toPrecision(4);

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v != null && v !== "") q.set(k, v);
    return q.toString();
  }
  async function getJSON(path, params) {
    const r = await fetch(path + "?" + query(params || {}));
    if (!r.ok) throw new Error(path + " " + r.status);
    return r.json();
  }
  function exParam() { return state.exchanges && state.exchanges.length ? state.exchanges.join(",") : null; }

  function applyMeta(meta) {
    if (!meta) return;
    state.mode = meta.mode; state.nowMs = meta.now_ms;
    // size tiers and the cascade threshold come from the server (/health and /liquidations/stats meta)
    if (meta.large_usd != null) state.large = meta.large_usd;
    if (meta.institutional_usd != null) state.institutional = meta.institutional_usd;
    if (meta.cascade_min_usd != null) state.cascadeMinUsd = meta.cascade_min_usd;
    const replay = meta.mode === "replay";
    $("mode-badge").classList.toggle("hidden", !replay);
    $("replay-note").classList.toggle("hidden", !replay);
    document.body.dataset.mode = meta.mode;
    $("clock").textContent = (replay ? "replay clock " : "") + fmtTime(meta.now_ms) + " UTC";
  }

  async function loadPickers() {
    const [syms, exs] = await Promise.all([getJSON("/liquidations/symbols"), getJSON("/exchanges")]);
    applyMeta(syms.meta);
    state.known = syms.underlyings || {};
    const bases = Object.keys(state.known);
    const order = ["BTC", "ETH", "SOL"].filter((b) => bases.includes(b)).concat(bases.filter((b) => !["BTC", "ETH", "SOL"].includes(b)).sort());
    const sel = $("symbol"); const prev = sel.value;
    sel.innerHTML = "";
    for (const b of order) { const o = document.createElement("option"); o.value = b; o.textContent = b + " (" + state.known[b].length + " mkts)"; sel.appendChild(o); }
    if (!state.userPicked && order.length) {
      state.symbol = order[0];
      if (state.mode === "replay" && !state.userTf) {
        try {
          const day = await getJSON("/liquidations/stats", { timeframe: "24h", exchanges: exParam() });
          const inDay = (day.by_underlying || []).map((u) => u.base);
          if (inDay.length && !inDay.includes(state.symbol)) state.symbol = inDay[0];
        } catch (e) { /* keep default */ }
      }
    }
    if (state.symbol) sel.value = state.symbol;
    const box = $("exchange-picker");
    if (!box.dataset.built) {
      box.dataset.built = "1";
      for (const e of exs.exchanges) {  // venues and their colours come from the venue modules via /exchanges
        if (e.color) state.colors[e.name] = e.color;
        const l = document.createElement("label");
        l.innerHTML = '<input type="checkbox" value="' + e.name + '" checked> '
          + '<span class="swatch" style="background:' + (e.color || "#888") + '"></span>' + e.name;
        box.appendChild(l);
      }
      box.addEventListener("change", () => {
        const all = [...box.querySelectorAll("input")];
        const on = all.filter((i) => i.checked).map((i) => i.value);
        state.exchanges = on.length === all.length ? null : on;
        refresh(); connectWs();
      });
    }
  }

  function renderHeatmap(hm) {
    const el = $("heatmap");
    const B = hm.bucket_ms, L = hm.level_size || 1;
    let times = [...new Set(hm.cells.map((c) => c.t))].sort((a, b) => a - b);
    let levels = [...new Set(hm.cells.map((c) => c.price))].sort((a, b) => a - b);
    // full regular grid (window start..end, lowest..highest level) so every cell has its true size
    const t0 = hm.meta.start_ms != null ? Math.floor(hm.meta.start_ms / B) * B : times[0];
    const t1 = Math.floor(hm.meta.end_ms / B) * B;
    if (times.length && (t1 - t0) / B <= 400) { times = []; for (let t = t0; t <= t1; t += B) times.push(t); }
    if (levels.length && (levels[levels.length - 1] - levels[0]) / L <= 400) {
      const lo = levels[0], n = Math.round((levels[levels.length - 1] - lo) / L);
      levels = []; for (let i = 0; i <= n; i++) levels.push(+(lo + i * L).toPrecision(12));
    }
    const key = (p) => Math.round(p / L);
    const ti = new Map(times.map((t, i) => [t, i])); const li = new Map(levels.map((p, i) => [key(p), i]));
    const z = levels.map(() => times.map(() => null));
    const txt = levels.map(() => times.map(() => ""));
    for (const c of hm.cells) {
      const i = li.get(key(c.price)), j = ti.get(c.t);
      if (i == null || j == null) continue;
      z[i][j] = c.long_usd + c.short_usd;
      txt[i][j] = "long " + fmtUsd(c.long_usd) + " / short " + fmtUsd(c.short_usd) + " (" + c.count + ")";
    }
    const x = times.map((t) => new Date(t + hm.bucket_ms / 2));
    const half = (hm.level_size || 0) / 2;
    const traces = [{
      type: "heatmap", x, y: levels.map((p) => p + half), z, text: txt, hoverongaps: false,
      colorscale: [[0, "#2b0f54"], [0.25, "#5b1d8a"], [0.5, "#b5367a"], [0.75, "#f07f2c"], [1, "#f8f27a"]],
      colorbar: { title: "USD", thickness: 10 },
      hovertemplate: "%{x}<br>level %{y}<br>%{text}<extra></extra>",
    }, {
      type: "scatter", mode: "lines+markers", name: "liq. VWAP",
      x: hm.price.map((p) => new Date(p.t + hm.bucket_ms / 2)), y: hm.price.map((p) => p.vwap),
      line: { color: "#ffffff", width: 1.5 }, marker: { size: 3 },
    }];
    const layout = Object.assign({}, DARK, { showlegend: false,
      xaxis: { type: "date", gridcolor: "#222", range: times.length ? [new Date(times[0]), new Date(times[times.length - 1] + B)] : undefined },
      yaxis: { title: hm.meta.underlying + " price", gridcolor: "#222" } });
    if (!hm.cells.length) layout.annotations = [{ text: "no realized liquidations for " + hm.meta.underlying + " in this window",
      showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5, font: { size: 14, color: "#8b949e" } }];
    Plotly.react(el, traces, layout, { displayModeBar: false, responsive: true });
    el.dataset.rendered = String(hm.cells.length);
    $("hm-info").textContent = hm.cells.length ? "level " + hm.level_size + " · bucket " + Math.round(hm.bucket_ms / 60000) + " min · " + hm.meta.underlying
      : "no liquidations for " + hm.meta.underlying + " in this window";
  }

  function renderStats(st) {
    $("totals").textContent = fmtUsd(st.total_usd) + " · " + st.count + " events";
    Plotly.react($("split"), [
      { type: "bar", orientation: "h", y: ["USD"], x: [st.long_usd], name: "long", marker: { color: "#f0515b" } },
      { type: "bar", orientation: "h", y: ["USD"], x: [st.short_usd], name: "short", marker: { color: "#1fc77e" } },
      { type: "bar", x: st.timeline.map((b) => new Date(b.t)), y: st.timeline.map((b) => b.long_usd), xaxis: "x2", yaxis: "y2", marker: { color: "#f0515b" }, showlegend: false },
      { type: "bar", x: st.timeline.map((b) => new Date(b.t)), y: st.timeline.map((b) => -b.short_usd), xaxis: "x2", yaxis: "y2", marker: { color: "#1fc77e" }, showlegend: false },
    ], Object.assign({}, DARK, { barmode: "relative", showlegend: false,
      grid: { rows: 2, columns: 1, roworder: "top to bottom" },
      yaxis: { domain: [0.78, 1] }, xaxis: { domain: [0, 1] },
      xaxis2: { anchor: "y2", type: "date" }, yaxis2: { domain: [0, 0.62], anchor: "x2", title: "10-min" } }),
      { displayModeBar: false, responsive: true });
    Plotly.react($("share"), [{ type: "pie", hole: 0.45, labels: st.by_exchange.map((e) => e.exchange),
      marker: { colors: st.by_exchange.map((e) => state.colors[e.exchange] || "#888") }, sort: false,
      values: st.by_exchange.map((e) => e.value_usd), textinfo: "label+percent" }],
      Object.assign({}, DARK, { showlegend: false, margin: { l: 10, r: 10, t: 10, b: 10 } }),
      { displayModeBar: false, responsive: true });
  }

  function renderCascades(cs) {
    const ul = $("cascades"); ul.innerHTML = "";
    const rows = (cs.detected || []).map((c) => Object.assign({ tag: c.severity + (c.status === "active" ? " · ACTIVE" : "") }, c))
      .concat(cs.detected && cs.detected.length ? [] : cs.cascades.map((c) => Object.assign({ tag: "burst" }, c)));
    if (!rows.length) { ul.innerHTML = '<li class="muted">no cascade in this window</li>'; return; }
    for (const c of rows.slice(0, 30)) {
      const li = document.createElement("li");
      li.className = "cascade " + c.dominant_side;
      li.style.color = c.dominant_side === "long" ? "var(--long)" : "var(--short)";
      li.textContent = "[" + c.tag + "] " + fmtTime(c.start_ms).slice(5) + " " + c.base + " " + fmtUsd(c.value_usd) + " in " + c.count
        + " liqs, " + c.dominant_side + "s" + (c.low != null ? ", " + fmtPrice(c.low) + "–" + fmtPrice(c.high) : "")
        + " [" + c.exchanges.join(",") + "]";
      ul.appendChild(li);
    }
  }

  function renderHealth(h) {
    const tb = $("health").querySelector("tbody"); tb.innerHTML = "";
    for (const e of h.exchanges) {
      const tr = document.createElement("tr");
      const st = e.status.split(" ")[0];
      tr.innerHTML = "<td>" + e.exchange + '</td><td class="st-' + st + '">' + e.status + (e.subscriptions ? " " + e.subscriptions : "") + "</td><td>" + e.events
        + "</td><td>" + (e.last_event_ms ? fmtTime(e.last_event_ms) : "–") + "</td>";
      tb.appendChild(tr);
    }
  }

  function addFeedRow(ev, fresh) {
    if (state.feedIds.has(ev.id)) return;
    state.feedIds.add(ev.id);
    const li = document.createElement("li");
    const tier = state.institutional != null && ev.value_usd >= state.institutional ? "tier-institutional"
      : state.large != null && ev.value_usd >= state.large ? "tier-large" : "tier-retail";
    li.className = "feed-row " + ev.side + " " + tier + (fresh ? " fresh" : "");
    li.dataset.id = ev.id; li.dataset.exchange = ev.exchange; li.dataset.usd = ev.value_usd;
    li.innerHTML = "<span>" + fmtTime(ev.timestamp).slice(11) + "</span><span>" + ev.exchange + "</span><span>" + ev.symbol
      + "</span><span>" + ev.side + "</span><span>" + fmtPrice(ev.price) + "</span><span>" + fmtUsd(ev.value_usd) + "</span>";
    const feed = $("feed");
    if (fresh) feed.insertBefore(li, feed.firstChild); else feed.appendChild(li);
    while (feed.children.length > MAX_FEED) { const last = feed.lastChild; state.feedIds.delete(last.dataset.id); feed.removeChild(last); }
  }

  async function loadRecent() {
    const r = await getJSON("/liquidations/recent", { symbol: null, exchanges: exParam(), limit: 60 });
    $("feed").innerHTML = ""; state.feedIds.clear();
    for (const ev of r.liquidations) addFeedRow(ev, false);
  }

  function connectWs() {
    if (state.ws) { state.ws.onclose = null; state.ws.close(); }
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(proto + "//" + location.host + "/ws/liquidations?" + query({ exchanges: exParam(), batch: "true" }));
    state.ws = ws;
    ws.onopen = () => { $("ws-state").textContent = "live"; };
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.type === "hello") { applyMeta(msg.meta); return; }
      const items = msg.type === "batch" ? msg.messages : msg.type === "liquidation" ? [msg] : [];
      for (const it of items) {
        addFeedRow(it.data, true);
        if (state.mode === "replay" && it.data.timestamp > (state.nowMs || 0)) applyMeta({ mode: "replay", now_ms: it.data.timestamp });
        window.liqmapFeedCount = (window.liqmapFeedCount || 0) + 1;
      }
    };
    ws.onclose = () => { $("ws-state").textContent = "reconnecting…"; setTimeout(connectWs, 2000); };
  }

  let busy = false;
  async function refresh() {
    if (busy) return; busy = true;
    try {
      await loadPickers();
      const sym = state.symbol;
      if (state.mode === "replay" && !state.userTf && sym) {
        // replay: the recording may be old or sparse; pick the smallest window that holds
        // a useful share of this symbol's replayed liquidations
        const tfs = ["4h", "24h", "7d", "30d", "all"];
        const counts = await Promise.all(tfs.map((tf) =>
          getJSON("/liquidations/stats", { symbol: sym, timeframe: tf, exchanges: exParam() }).then((r) => r.count)));
        const need = Math.min(30, counts[counts.length - 1]);
        const pick = tfs[Math.max(0, counts.findIndex((c) => c >= need && c > 0))];
        state.timeframe = pick; $("timeframe").value = pick;
      }
      const common = { timeframe: state.timeframe, exchanges: exParam() };
      const soft = (p) => p.catch((e) => { console.warn(e); return null; });  // one failing panel must not blank the others
      const [hm, st, cs, h] = await Promise.all([
        sym ? soft(getJSON("/liquidations/heatmap", Object.assign({ symbol: sym }, common))) : null,
        soft(getJSON("/liquidations/stats", Object.assign({ symbol: sym }, common))),
        soft(getJSON("/liquidations/cascades", Object.assign({ min_usd: state.cascadeMinUsd }, common))),
        soft(getJSON("/exchanges/health")),
      ]);
      if (st) { applyMeta(st.meta); renderStats(st); }
      if (hm) renderHeatmap(hm);
      if (cs) renderCascades(cs);
      if (h) renderHealth(h);
    } catch (e) { console.error(e); }
    finally { busy = false; }
  }

  $("symbol").addEventListener("change", (e) => { state.symbol = e.target.value; state.userPicked = true; refresh(); });
  $("timeframe").addEventListener("change", (e) => { state.timeframe = e.target.value; state.userTf = true; refresh(); });
  fetch("/static/heatmap.html", { method: "HEAD" }).then((r) => { if (r.ok) $("heatmap-link").classList.remove("hidden"); }).catch(() => {});

  (async function init() {
    try { const h = await getJSON("/health"); applyMeta(h.meta); } catch (e) { /* retry below */ }
    await refresh();
    await loadRecent();
    connectWs();
    setInterval(refresh, 5000);
  })();
})();
