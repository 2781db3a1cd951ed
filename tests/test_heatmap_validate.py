"""Hourly walk-forward validation: the parameters chosen on the first half must not depend on
anything in the later half (real rows of the shipped CoinGlass hourly file, tests/fixtures/PROVENANCE.md)."""

from __future__ import annotations

import csv
import gzip

import numpy as np
import pytest

from liqmap.heatmap.validate import DEFAULT_HOURLY, fit_hourly, load_hourly, slice_hourly, validate_hourly

N_ROWS = 960  # first 40 days of the shipped file: keeps the test fast, the selection is the real one


def _write(path, rows, header):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    with gzip.open(DEFAULT_HOURLY, "rt", newline="") as fh:
        r = csv.reader(fh)
        header = next(r)
        rows = [row for _, row in zip(range(N_ROWS), r)]
    d = tmp_path_factory.mktemp("hourly")
    _write(d / "orig.csv", rows, header)
    half = N_ROWS // 2
    rng = np.random.default_rng(3)
    ll, ls = header.index("liquidation_long_usd"), header.index("liquidation_short_usd")
    shuffled = [list(x) for x in rows]
    perm = rng.permutation(np.arange(half, N_ROWS))
    for i, j in zip(range(half, N_ROWS), perm):
        shuffled[i][ll], shuffled[i][ls] = rows[j][ls], rows[j][ll]  # shuffled and sides swapped
    zeroed = [list(x) for x in rows]
    for i in range(half, N_ROWS):
        zeroed[i][ll] = zeroed[i][ls] = "0"
    _write(d / "shuffled.csv", shuffled, header)
    _write(d / "zeroed.csv", zeroed, header)
    return d


def test_fit_uses_first_half_only(files, monkeypatch):
    import liqmap.heatmap.validate as V

    seen = []
    real_fit = V.fit_hourly

    def spy(h_train):
        seen.append(h_train)
        return real_fit(h_train)

    monkeypatch.setattr(V, "fit_hourly", spy)
    fits = {}
    for name in ("orig", "shuffled", "zeroed"):
        out = V.validate_hourly(files / f"{name}.csv", n_boot=5)
        assert out["train_hours"] + out["test_hours"] == N_ROWS - 1
        fits[name] = out["fit"]
    assert fits["orig"] == fits["shuffled"] == fits["zeroed"]
    # the selection received exactly the first-half rows, nothing later
    orig = load_hourly(files / "orig.csv")
    assert len(seen) == 3 and all(len(h.ts) == N_ROWS // 2 for h in seen)
    assert seen[0].ts[-1] < orig.ts[N_ROWS // 2]
    # and the test-half columns did differ between the files (the check above is not vacuous)
    assert not np.array_equal(load_hourly(files / "zeroed.csv").liq_long, orig.liq_long)


def test_fit_needs_rows():
    h = load_hourly(DEFAULT_HOURLY)
    with pytest.raises(ValueError):
        fit_hourly(slice_hourly(h, np.arange(5)))


def test_multi_partial_equals_first_order_partial_for_one_control():
    from liqmap.heatmap.validate import partial_spearman, partial_spearman_multi

    h = load_hourly(DEFAULT_HOURLY)
    x, y, z = h.high - h.low, h.liq_long, h.open - h.low
    assert partial_spearman_multi(x, y, z[:, None]) == pytest.approx(partial_spearman(x, y, z), abs=1e-9)
