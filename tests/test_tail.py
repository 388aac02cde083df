"""Tail analysis on hand-checked inputs."""

import numpy as np
import pandas as pd
import pytest

from smpp_utils.analysis import tail


def test_top_mask_takes_the_highest_labels():
    y = np.array([1.0, 9.0, 3.0, 7.0, 5.0, 8.0, 2.0, 4.0, 6.0, 0.0])
    assert np.flatnonzero(tail.top_mask(y, 0.2)).tolist() == [1, 5]      # labels 9 and 8
    assert tail.top_mask(y, 0.5).sum() == 5
    with pytest.raises(ValueError, match="empty"):
        tail.top_mask(y, 0.01)


def test_tail_table_hand_checked():
    labels = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0], index=[10, 11, 12, 13, 14])
    preds = pd.DataFrame({"model": "m", "seed": [0] * 5 + [1] * 5, "Pid": list(labels.index) * 2,
                          "y_pred": [1, 2, 3, 4, 3] + [1, 2, 3, 4, 7]})
    t = tail.tail_table(preds, labels, fracs=(0.2,)).iloc[0]
    # top 20% = the post with label 5; errors -2 (seed 0) and +2 (seed 1)
    assert t["top20_mae"] == pytest.approx(2.0) and t["top20_mae_std"] == pytest.approx(0.0)
    assert t["top20_mse"] == pytest.approx(4.0)
    assert t["all_mae"] == pytest.approx(0.4) and t["seeds"] == 2


def test_error_by_decile_signs():
    labels = pd.Series(np.arange(20, dtype=float), index=np.arange(20))
    preds = pd.DataFrame({"model": "mean", "seed": 0, "Pid": labels.index, "y_pred": 9.5})
    dec = tail.error_by_decile(preds, labels, n_bins=2)
    assert dec["mean_error"].tolist() == pytest.approx([5.0, -5.0])   # over-, then under-prediction
