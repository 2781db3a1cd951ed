// liqmap heatmap page: time x price grid of ESTIMATED liquidation levels (USDT) with candles on top.
// Data: GET /data/symbols, /liquidations/heatmap-timeseries, /prices/klines (routers/heatmap.py).
"use strict";
const $ = (id) => document.getElementById(id);

async function getJSON(url) {
  const r = await fetch(url);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((body && body.detail && (body.detail.reason || body.detail)) || r.statusText);
  return body;
}

function buildGrid(data, side) {
  const prices = new Set();
  for (const col of data) for (const lv of col.levels) prices.add(lv.price);
  const y = Array.from(prices).sort((a, b) => a - b);
  const row = new Map(y.map((p, i) => [p, i]));
  const x = data.map((c) => new Date(c.timestamp));
  const z = y.map(() => new Array(data.length).fill(null));
  const vals = [];
  data.forEach((col, j) => {
    for (const lv of col.levels) {
      const v = side === "long" ? lv.long : side === "short" ? lv.short : lv.long + lv.short;
      if (v > 0) { z[row.get(lv.price)][j] = v; vals.push(v); }
    }
  });
  vals.sort((a, b) => a - b);
  const zmax = vals.length ? vals[Math.floor(0.99 * (vals.length - 1))] : 1;  // colour saturates at p99
  return { x, y, z, zmax };
}

async function draw() {
  const sym = $("symbol").value, win = $("window").value, iv = $("interval").value, side = $("side").value;
  if (!sym) return;
  $("status").textContent = "loading…";
  try {
    const hm = await getJSON(`/liquidations/heatmap-timeseries?symbol=${encodeURIComponent(sym)}&time_window=${win}&interval=${iv}`);
    const m = hm.meta;
    const kl = await getJSON(`/prices/klines?symbol=${encodeURIComponent(sym)}&interval=${iv}&limit=${Math.min(5000, hm.data.length)}&end_time=${m.end}`);
    const g = buildGrid(hm.data, side);
    const half = m.bin_size / 2;
    const heat = {
      type: "heatmap", x: g.x, y: g.y.map((p) => p + half), z: g.z, zmin: 0, zmax: g.zmax,
      colorscale: [[0, "#2a0a4a"], [0.25, "#3b4cc0"], [0.5, "#1fa187"], [0.75, "#a0da39"], [1, "#fde725"]],
      colorbar: { title: "est. USD" }, hovertemplate: "%{x}<br>%{y:.2f}<br>%{z:,.0f} USD<extra></extra>",
    };
    const c = kl.data;
    const candles = {
      type: "candlestick", name: "price",
      x: [],
      open: c.map((k) => k.open), high: c.map((k) => k.high), low: c.map((k) => k.low), close: c.map((k) => k.close),
      increasing: { line: { color: "#e6e6e6" } }, decreasing: { line: { color: "#ff5c5c" } },
    };
    // candle open_time + one step = the heatmap column's timestamp (step end)
    const stepMs = c.length > 1 ? c[c.length - 1].open_time - c[c.length - 2].open_time : 0;
    candles.x = c.map((k) => new Date(k.open_time + stepMs));
    Plotly.react($("chart"), [heat, candles], {
      paper_bgcolor: "#0b0e14", plot_bgcolor: "#0b0e14", font: { color: "#d6deeb" },
      margin: { l: 70, r: 20, t: 30, b: 40 }, xaxis: { rangeslider: { visible: false } },
      yaxis: { title: "price (USDT)" }, showlegend: false,
      title: { text: `${m.symbol} — estimated liquidation levels (${m.interval} columns, bin ${m.bin_size})`, font: { size: 14 } },
    }, { responsive: true });
    const p = m.params, ho = (m.validation || {}).held_out_partial_spearman;
    const lad = p.ladder.map(([lev, w]) => `${lev}×${w}`).join(", ");
    const score = ho ? `held-out partial ρ given the price excursion: long ${ho.long}, short ${ho.short}` : "not yet scored";
    $("note").textContent = `ESTIMATE, not observed liquidations. Model ${m.params_version} (${m.model_step} steps; ${score}). ` +
      `Ladder ${lad}; MMR ${p.mmr}; brackets as of ${m.brackets_as_of}; ` +
      `coverage ${m.coverage === null ? "n/a" : (100 * m.coverage).toFixed(1) + "% of OI"}; ${m.consumption}.`;
    $("status").textContent = `${hm.data.length} columns`;
  } catch (e) {
    $("status").textContent = "error: " + e.message;
  }
}

async function init() {
  try {
    const s = await getJSON("/data/symbols");
    $("symbol").innerHTML = s.symbols.map((x) => `<option>${x}</option>`).join("");
    const qs = new URLSearchParams(location.search);
    const q = qs.get("symbol");
    if (q && s.symbols.includes(q.toUpperCase())) $("symbol").value = q.toUpperCase();
    for (const id of ["window", "interval", "side"]) {  // ?window=3d&interval=1h&side=long
      const v = qs.get(id);
      if (v && Array.from($(id).options).some((o) => (o.value || o.text) === v)) $(id).value = v;
    }
  } catch (e) { $("status").textContent = "error: " + e.message; }
  for (const id of ["symbol", "window", "interval", "side"]) $(id).addEventListener("change", draw);
  $("reload").addEventListener("click", draw);
  draw();
}
init();
