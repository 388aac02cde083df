"""JRPP ablation helpers: ordering, summary statistics, seed guard."""

import pandas as pd
import pytest

from smpp_utils.jrpp import ablation


def test_summary_and_order_hand_checked():
    df = pd.DataFrame([
        {"variant": "w/o filter", "seed_index": 0, "mse": 2.0, "mae": 1.0, "src": 0.5},
        {"variant": "full", "seed_index": 1, "mse": 3.0, "mae": 1.0, "src": 0.7},
        {"variant": "full", "seed_index": 0, "mse": 1.0, "mae": 1.0, "src": 0.5},
    ])
    ordered = ablation.order_variants(df)
    assert ordered["variant"].tolist() == ["full", "full", "w/o filter"]
    assert ordered["seed_index"].tolist() == [0, 1, 0]
    s = ablation.summary_table(ordered).set_index("variant")
    assert s.loc["full", "mse_mean"] == pytest.approx(2.0)
    assert s.loc["full", "mse_std"] == pytest.approx(2 ** 0.5)
    assert s.loc["w/o filter", "seeds"] == 1 and s.loc["w/o filter", "mse_std"] == 0


def test_more_ablation_seeds_than_stage04_is_an_error():
    class Cfg:
        n_seeds = 2
    with pytest.raises(ValueError, match="exceeds the 2 seeds"):
        ablation.check_seeds(3, Cfg())
    assert ablation.check_seeds(2, Cfg()) == 2
