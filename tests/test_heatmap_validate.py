"""``liqmap validate``: the fit reads the first half only, the held-out half is scored only under a
frozen protocol, the baselines are what the protocol says, and the recorded held-out score
reproduces (real data: heatmap/reference/, PROVENANCE.md there)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import liqmap.heatmap.validate as V
from liqmap.heatmap.baselines import breakout, hour_range, own_excursion, two_sided_excursion
from liqmap.heatmap.params import load_params


@pytest.fixture(scope="module")
def small():
    """Protocol v1 cut to 2025-12-04 … 12-14 with a two-candidate grid (the selection rule is the real one)."""
    p = copy.deepcopy(V.load_protocol("v1"))
    p["scored_hours"]["last_end"] = "2025-12-14T00:00Z"
    p["grid"] = {"ladders": {"default": p["grid"]["ladders"]["default"]}, "level_spread": [0.5],
                 "half_life_hours": [2, None], "base_rate": [0.03]}
    return p, V.prepare(p)


def test_fit_reads_the_first_half_only(small, monkeypatch):
    protocol, ds = small
    stops = []
    real_run = V.run

    def spy(*a, **kw):
        stops.append(kw["stop"])
        return real_run(*a, **kw)

    monkeypatch.setattr(V, "run", spy)
    first = V.fit(protocol, ds, "model")
    assert stops and max(stops) == ds.last_step(ds.n_fit)  # the simulation never went past the fit half
    assert ds.series.t_end[max(stops) - 1] == ds.t[ds.n_fit - 1]
    changed = copy.copy(ds)
    changed.realized = ds.realized.copy()
    rng = np.random.default_rng(3)
    changed.realized[ds.n_fit:] = rng.permutation(ds.realized[ds.n_fit:])[:, ::-1]  # shuffled, sides swapped
    again = V.fit(protocol, changed, "model")
    changed.realized[ds.n_fit:] = 0.0
    zeroed = V.fit(protocol, changed, "model")
    assert first["params"] == again["params"] == zeroed["params"] and first["fit_mean"] == zeroed["fit_mean"]
    assert not np.array_equal(changed.realized, ds.realized)  # the held-out half did differ
    nooi = V.fit(protocol, ds, "no_oi_book")
    assert nooi["params"].oi_weight == 0 and not nooi["params"].use_oi_closes


def test_held_out_half_needs_a_frozen_protocol(monkeypatch):
    p = dict(V.load_protocol("v1"), frozen=False)
    monkeypatch.setattr(V, "load_protocol", lambda version: p)
    with pytest.raises(RuntimeError, match="not frozen"):
        V.validate("v1")


def test_a_scored_protocol_cannot_be_refitted():
    """``--fit`` would overwrite params/v1.json and erase its recorded held-out score; it refuses
    (exit 1, file unchanged) before reading any data."""
    from liqmap.cli import app
    from liqmap.heatmap.params import params_path

    before = params_path("v1").read_bytes()
    r = CliRunner().invoke(app, ["validate", "--fit"])
    assert r.exit_code == 1 and "new protocol version" in r.output
    assert params_path("v1").read_bytes() == before


def test_baselines_follow_their_definitions():
    # HAND-BUILT hours (toy prices): open, high, low
    o = np.array([100.0, 100, 100, 100, 100, 100, 100, 100])
    h = np.array([101.0, 102, 101, 101, 101, 101, 103, 100.5])
    lo = np.array([99.0, 98, 99.5, 99, 99, 99, 97, 99.8])
    np.testing.assert_allclose(own_excursion(o, h, lo)[0], [0.01, 0.01])
    np.testing.assert_allclose(two_sided_excursion(o, h, lo)[1], [0.02, 0.02])
    np.testing.assert_allclose(hour_range(o, h, lo)[6], [0.06, 0.06])
    b = breakout(h, lo)
    assert np.isnan(b[:6]).all()
    np.testing.assert_allclose(b[6], [(98 - 97) / 98, (103 - 102) / 102])  # broke both prior-6h extremes
    np.testing.assert_allclose(b[7], [(97 - 99.8) / 97, (100.5 - 103) / 103])  # stayed inside: negative


def test_recorded_held_out_score_reproduces_and_table_prints():
    from liqmap.cli import app

    served = load_params()
    assert served.held_out, "protocol v1's held-out score must be recorded in params/v1.json"
    r = CliRunner().invoke(app, ["validate", "--json", "--n-boot", "20"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["scored"] == "held-out half" and out["params"] == served.params.to_dict()
    for side in ("long", "short"):
        assert set(out["sides"][side]) == set(V.PREDICTORS)
        for k in V.PREDICTORS:
            rec, now = served.held_out[side][k], out["sides"][side][k]
            assert now["spearman"] == rec["spearman"] and now["partial"] == rec["partial"]
        assert out["sides"][side]["own_excursion"]["partial"] is None
    assert served.held_out["split"] == out["split"]


def test_partial_from_the_rank_matrix_equals_the_rank_residual_correlation():
    """The first-order partial used by the score equals the correlation of rank residuals after
    regressing both ranks on the control's ranks (real hours of the shipped reference data)."""
    from scipy.stats import rankdata

    from liqmap.heatmap.stats import partial_from, rank_stats

    ds = V.prepare(V.load_protocol("v1"))
    x, y, z = ds.ohlc[ds.rows, 1] - ds.ohlc[ds.rows, 2], ds.realized[:, 0], V.own_exc(ds)[:, 0]
    Z = np.column_stack([rankdata(z), np.ones(len(z))])
    res = [r - Z @ np.linalg.lstsq(Z, r, rcond=None)[0] for r in (rankdata(x), rankdata(y))]
    assert partial_from(rank_stats(np.column_stack([x, y, z])), 0, 1, 2) == pytest.approx(
        np.corrcoef(*res)[0, 1], abs=1e-12)


README = Path(__file__).resolve().parents[1] / "README.md"
README_ROWS = {"**model (served)**": "model", "no-OI book": "no_oi_book", "own-side excursion": "own_excursion",
               "two-sided excursion": "two_sided_excursion", "hour's range": "hour_range",
               "breakout beyond the prior 6 h extreme": "breakout_6h"}


def _cell(v, ci) -> str:
    """A README table cell: ``0.860 [0.842, 0.876]`` (— when there is no value)."""
    return "—" if v is None else f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def test_readme_validation_table_is_the_recorded_score_and_the_printed_table():
    """The README's figures are the ones ``liqmap validate`` prints (recorded in params/v1.json, which
    ``test_recorded_held_out_score_reproduces_and_table_prints`` checks against a fresh run)."""
    from liqmap.cli import app

    ho = load_params().held_out
    text = README.read_text()
    section = text[text.index("### Validation results"):]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        for label, key in README_ROWS.items():
            if len(cells) == 5 and cells[0].startswith(label):
                rows[key] = cells[1:]
    assert set(rows) == set(V.PREDICTORS)
    for key, cells in rows.items():
        want = []
        for side in ("long", "short"):
            r = ho[side][key]
            want += [_cell(r["spearman"], r["spearman_ci95"]), _cell(r["partial"], r["partial_ci95"])]
        assert [c.replace("**", "") for c in cells] == want, key
    for side in ("long", "short"):
        lo, hi = ho[side]["no_oi_book"]["model_minus_partial_ci95"]
        assert f"{side} [{lo:.3f}, {hi:.3f}]" in section
    assert f"Held-out half: {ho['split']['held_out']['hours']:,} hours" in section
    # the table printed to a file or pipe shows every figure in full
    out = CliRunner().invoke(app, ["validate", "--n-boot", "20"]).stdout
    for key in V.PREDICTORS:
        for side in ("long", "short"):
            assert f"{ho[side][key]['spearman']:.3f}" in out
    assert "model (served)" in out and "model−this partial" in out  # not folded to 80 columns
