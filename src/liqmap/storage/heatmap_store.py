"""The live heatmap's tables (``migrations/duckdb/0007_live_heatmap.sql``): state, steps, levels.

:func:`save_steps` writes one advance of one underlying in ONE transaction: the level rows and
step rows of the new steps, the serialized model state after them, and the pruning of levels
older than the retention -- so after a crash (SIGKILL included) the stored state and steps agree
and ``serve`` resumes from the last committed step. :func:`load_state` reads the state back;
:func:`read_columns` / :func:`read_steps` serve the API.

Levels are stored per model cell (global log-price cell ``c``: price ``exp((c + 0.5) g)``,
``g = ln(1 + cell_bps / 10^4)``), only cells with at least :data:`MIN_CELL_USD` on a side (the
API rounds to whole USD). Times ms UTC; notional USD.
"""

from __future__ import annotations

from typing import Any, Sequence

import duckdb
import numpy as np

from liqmap.heatmap.live import LiveStep
from liqmap.storage.market import transaction

#: Smallest cell stored (USD on its larger side): the API rounds levels to whole USD.
MIN_CELL_USD = 0.5
STEP_COLUMNS = ("base", "params_version", "t_end", "close", "price_source", "oi", "oi_total", "oi_total_usd",
                "oi_partial", "oi_present", "oi_missing", "consumed_long", "consumed_short")


def sparse_cells(origin: int, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(global cells, long USD, short USD) of the cells with at least :data:`MIN_CELL_USD` a side."""
    keep = np.flatnonzero((levels[0] >= MIN_CELL_USD) | (levels[1] >= MIN_CELL_USD))
    return (origin + keep).astype(np.int32), levels[0, keep], levels[1, keep]


def load_state(con: duckdb.DuckDBPyConnection, base: str, version: str, step_ms: int) -> bytes | None:
    """The stored state blob of ``base`` under parameters ``version`` and step, or None."""
    r = con.execute("SELECT state FROM heatmap_state WHERE base = ? AND params_version = ? AND step_ms = ?",
                    [base, version, step_ms]).fetchone()
    return None if r is None else bytes(r[0])


def _level_columns(base: str, version: str, steps: Sequence[LiveStep]) -> dict[str, np.ndarray] | None:
    parts = [(s.t_end, *sparse_cells(s.origin, s.levels)) for s in steps if s.levels is not None]
    if not parts:
        return None
    n = sum(len(p[1]) for p in parts)
    return {"base": np.full(n, base, dtype=object), "params_version": np.full(n, version, dtype=object),
            "t_end": np.concatenate([np.full(len(p[1]), p[0], dtype=np.int64) for p in parts]),
            "cell": np.concatenate([p[1] for p in parts]), "long_usd": np.concatenate([p[2] for p in parts]),
            "short_usd": np.concatenate([p[3] for p in parts])}


def _step_rows(base: str, version: str, steps: Sequence[LiveStep]) -> list[tuple]:
    def f(x: float) -> float | None:
        return None if x != x else float(x)

    return [(base, version, s.t_end, f(s.close), s.price_source, f(s.oi), f(s.aggregate.total),
             f(s.aggregate.total_usd), s.aggregate.partial, list(s.aggregate.present), list(s.aggregate.missing),
             float(s.consumed[0]), float(s.consumed[1])) for s in steps]


def save_steps(con: duckdb.DuckDBPyConnection, base: str, version: str, step_ms: int, first_end: int,
               steps: Sequence[LiveStep], state: bytes, now_ms: int, keep_from: int | None = None) -> int:
    """Store ``steps`` (their levels and step rows) and the ``state`` after them, and drop level
    rows of steps ending before ``keep_from``, in one transaction. Returns level rows written.
    Raises ``duckdb.Error`` (nothing written)."""
    if not steps:
        return 0
    cols = _level_columns(base, version, steps)
    with transaction(con) as cur:
        if cols is not None:
            cur.register("levels_batch", cols)
            cur.execute("INSERT INTO heatmap_levels SELECT base, params_version, t_end, cell, long_usd, short_usd "
                        "FROM levels_batch")
            cur.unregister("levels_batch")
        cur.executemany(f"INSERT INTO heatmap_steps VALUES ({', '.join('?' * len(STEP_COLUMNS))})",
                        _step_rows(base, version, steps))
        cur.execute("INSERT OR REPLACE INTO heatmap_state VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [base, version, step_ms, first_end, steps[-1].t_end, state, now_ms])
        if keep_from is not None:
            cur.execute("DELETE FROM heatmap_levels WHERE base = ? AND params_version = ? AND t_end < ?",
                        [base, version, keep_from])
    return 0 if cols is None else len(cols["cell"])


def reset(con: duckdb.DuckDBPyConnection, base: str, version: str) -> None:
    """Forget ``base``'s stored run under ``version`` (a new run starts from scratch)."""
    for table in ("heatmap_levels", "heatmap_steps", "heatmap_state"):
        con.execute(f"DELETE FROM {table} WHERE base = ? AND params_version = ?", [base, version])


def read_steps(con: duckdb.DuckDBPyConnection, base: str, version: str, lo: int, hi: int,
               newest: int | None = None) -> list[dict[str, Any]]:
    """Step rows with ``lo <= t_end <= hi``, oldest first, as dicts of :data:`STEP_COLUMNS`
    (only the ``newest`` n of them when given)."""
    where = "WHERE base = ? AND params_version = ? AND t_end >= ? AND t_end <= ?"
    sql = f"SELECT {', '.join(STEP_COLUMNS)} FROM heatmap_steps {where} ORDER BY t_end"
    if newest is not None:
        sql = f"SELECT * FROM (SELECT {', '.join(STEP_COLUMNS)} FROM heatmap_steps {where} ORDER BY t_end DESC LIMIT {int(newest)}) ORDER BY t_end"
    rows = con.execute(sql, [base, version, lo, hi]).fetchall()
    return [dict(zip(STEP_COLUMNS, r)) for r in rows]


def step_closes(con: duckdb.DuckDBPyConnection, base: str, version: str, lo: int, hi: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """(t_end (K,) int64, close (K,) float, NaN unknown) of the steps with ``lo <= t_end <= hi``, oldest first."""
    r = con.execute("SELECT t_end, close FROM heatmap_steps WHERE base = ? AND params_version = ? "
                    "AND t_end >= ? AND t_end <= ? ORDER BY t_end", [base, version, lo, hi]).fetchnumpy()
    return (np.asarray(r["t_end"], dtype=np.int64),
            np.ma.asarray(r["close"], dtype=float).filled(np.nan))


def step_summary(con: duckdb.DuckDBPyConnection, base: str, version: str, lo: int, hi: int) -> tuple[list[str], int]:
    """(instruments that contributed open interest in any step, sorted; steps whose aggregate was
    partial) over the steps with ``lo <= t_end <= hi``."""
    args = [base, version, lo, hi]
    where = "WHERE base = ? AND params_version = ? AND t_end >= ? AND t_end <= ?"
    venues = con.execute(f"SELECT DISTINCT unnest(oi_present) AS v FROM heatmap_steps {where} ORDER BY v", args).fetchall()
    partial = con.execute(f"SELECT count(*) FILTER (oi_partial) FROM heatmap_steps {where}", args).fetchall()[0][0]
    return [v for (v,) in venues], int(partial or 0)


def read_level_rows(con: duckdb.DuckDBPyConnection, base: str, version: str, lo: int, hi: int,
                    every_ms: int) -> dict[str, np.ndarray]:
    """Stored level rows of the steps ending in ``[lo, hi]`` at multiples of ``every_ms``, ordered
    by (t_end, cell): ``{t_end (R,) int64, cell (R,) int64, long_usd (R,), short_usd (R,)}``.

    The rows are written in that order (:func:`save_steps`: steps ascending, cells ascending), and
    a plain scan returns them as stored, so they are sorted here only when they are not (cheaper
    than an ORDER BY over a month of levels)."""
    r = con.execute("""SELECT t_end, cell, long_usd, short_usd FROM heatmap_levels
                       WHERE base = ? AND params_version = ? AND t_end >= ? AND t_end <= ? AND t_end % ? = 0""",
                    [base, version, lo, hi, every_ms]).fetchnumpy()
    out = {"t_end": np.asarray(r["t_end"], dtype=np.int64), "cell": np.asarray(r["cell"], dtype=np.int64),
           "long_usd": np.asarray(r["long_usd"], dtype=float), "short_usd": np.asarray(r["short_usd"], dtype=float)}
    t, c = out["t_end"], out["cell"]
    if len(t) > 1 and not ((t[1:] > t[:-1]) | ((t[1:] == t[:-1]) & (c[1:] > c[:-1]))).all():
        order = np.lexsort((c, t))
        out = {k: v[order] for k, v in out.items()}
    return out


def read_columns(con: duckdb.DuckDBPyConnection, base: str, version: str, ends: Sequence[int]
                 ) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``{t_end: (cells, long USD, short USD)}`` of the stored steps among ``ends`` (cells sorted)."""
    if not len(ends):
        return {}
    r = con.execute("""SELECT t_end, cell, long_usd, short_usd FROM heatmap_levels
                       WHERE base = ? AND params_version = ? AND t_end >= ? AND t_end <= ?
                         AND t_end IN (SELECT unnest(?)) ORDER BY t_end, cell""",
                    [base, version, int(min(ends)), int(max(ends)), [int(t) for t in ends]]).fetchnumpy()
    t = np.asarray(r["t_end"], dtype=np.int64)
    out: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    if not len(t):
        return out
    cuts = np.flatnonzero(np.r_[True, t[1:] != t[:-1], True])
    cell, lo_, sh = (np.asarray(r[c]) for c in ("cell", "long_usd", "short_usd"))
    for a, b in zip(cuts[:-1], cuts[1:]):
        out[int(t[a])] = (cell[a:b].astype(np.int64), lo_[a:b].astype(float), sh[a:b].astype(float))
    return out


def latest_step(con: duckdb.DuckDBPyConnection, base: str, version: str) -> int | None:
    """End of the newest stored step of ``base``, or None."""
    r = con.execute("SELECT max(t_end) FROM heatmap_steps WHERE base = ? AND params_version = ?",
                    [base, version]).fetchone()[0]
    return None if r is None else int(r)
