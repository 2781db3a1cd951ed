// liqmap "Predicted levels" page: the market chart (market.js) full size for one symbol with price
// history, the liquidation map beside it, and what the model is (version, held-out score, ladder).
// Opens on BTCUSDT (or ?symbol=), the window ending at "now" (the replay clock in replay mode).
"use strict";
(function () {
  const M = window.LiqmapMarket;
  const $ = (id) => document.getElementById(id);
  const qs = new URLSearchParams(location.search);
  let meta = null;
  let unavailable = null;  // the ?symbol= asked for that has no price history

  function note(hm) {
    if (!hm || hm.error) { $("note").textContent = ""; return; }
    const m = hm.meta, p = m.params, ho = (m.validation || {}).held_out_partial_spearman;
    const lad = p.ladder.map(([lev, w]) => lev + "× " + Math.round(w * 100) + "%").join(", ");
    const score = ho ? "held-out partial ρ (given the price excursion) long " + ho.long + ", short " + ho.short : "not yet scored";
    $("note").textContent = "ESTIMATE, not observed orders: model " + m.params_version + " (" + m.model_step + " steps; "
      + score + "). Leverage ladder " + lad + "; MMR " + p.mmr + "; brackets as of " + m.brackets_as_of + "; book "
      + (m.coverage == null ? "n/a" : (100 * m.coverage).toFixed(1) + "% of open interest") + "; " + m.consumption + ".";
  }

  async function draw() {
    const sym = $("symbol").value;
    if (!sym) return;
    $("status").textContent = "loading…";
    try {
      const h = await M.getJSON("/health"); meta = h.meta;
      $("mode-badge").classList.toggle("hidden", meta.mode !== "replay");
      $("clock").textContent = M.fmtTime(meta.now_ms) + " UTC";  // beside the REPLAY badge, which says what it is
      $("clock").title = meta.mode === "replay" ? "replay clock: the newest replayed event" : "now (wall clock)";
      const winMs = M.WINDOW_MS[$("window").value];
      const iv = $("interval").value === "auto" ? M.intervalFor(winMs) : $("interval").value;
      const base = sym.replace(/(USDT|USDC|USD)$/, "");
      const end = meta.mode === "live" ? Date.now() : meta.now_ms;
      const d = await M.load({ base, priceSymbol: sym, interval: iv, windowMs: winMs, end, withMap: true });
      await M.ready;
      const c = M.drawChart($("chart"), d, { side: $("side").value });
      M.drawMap($("liqmap"), d.lm, M.lastRange);
      M.mapInfo($("map-info"), d.lm);
      $("chart-title").textContent = sym + " — predicted liquidation levels (estimate), candles, realized liquidations";
      $("chart-info").textContent = iv + " columns";
      note(d.hm);
      const src = [];
      if (unavailable) src.push([M.el("b", null, unavailable)]);
      if (meta.mode === "replay") src.push([M.el("b", null, "Replay"), ": the window ends at the replay clock."]);
      if (d.kl && !d.kl.error) src.push("Candles and model inputs: Binance USD-M " + sym + " klines and open interest ("
        + d.kl.source.split(" ")[0] + ").");
      if (d.ref && !d.ref.error && d.ref.data.length) src.push("Realized strip: " + d.ref.meta.source + ".");
      if (d.rec && !d.rec.error) src.push("Bubbles: stored realized liquidations of " + base + ".");
      M.setParts($("source-note"), src);
      $("status").textContent = (d.hm && !d.hm.error ? d.hm.meta.total_snapshots + " columns of " + iv : "no levels")
        + " · " + c.bubbles + " realized";
      document.body.dataset.ready = "1";
    } catch (e) {
      $("status").textContent = "error: " + e.message;
    }
  }

  (async function init() {
    let symbols = [];
    try { symbols = (await M.getJSON("/data/symbols")).symbols; } catch (e) { $("status").textContent = "error: " + e.message; }
    if (!symbols.length) {
      await M.ready;
      $("symbol").replaceChildren(M.el("option", { value: "" }, "none"));
      M.drawChart($("chart"), { ivMs: 900000, start: Date.now() - 86400000, end: Date.now(), interval: "15m",
                               base: "BTC", priceSymbol: null });
      M.drawMap($("liqmap"), { error: "no price history in this database" });
      $("status").textContent = "no price history yet";
      return;
    }
    $("symbol").replaceChildren(...symbols.map((x) => M.el("option", null, x)));
    const want = (qs.get("symbol") || "").toUpperCase();
    $("symbol").value = symbols.includes(want) ? want : symbols.includes("BTCUSDT") ? "BTCUSDT" : symbols[0];
    // asked for a symbol without price history: say so instead of silently showing another one
    if (want && !symbols.includes(want)) unavailable = want + " has no price history in this database (the model needs "
      + "klines and open interest: liqmap download --symbol " + want + " … or liqmap backfill -s " + want + "); showing "
      + $("symbol").value + ".";
    for (const id of ["window", "interval", "side"]) {  // ?window=3d&interval=1h&side=long
      const v = qs.get(id);
      if (v && Array.from($(id).options).some((o) => (o.value || o.text) === v)) $(id).value = v;
    }
    $("symbol").addEventListener("change", () => { unavailable = null; });
    for (const id of ["symbol", "window", "interval", "side"]) $(id).addEventListener("change", draw);
    await draw();
    setInterval(draw, 15000);
  })();
})();
