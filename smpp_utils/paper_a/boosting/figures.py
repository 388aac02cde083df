"""Figures of the boosting stage."""

from __future__ import annotations

import pandas as pd



def importance_data(imp: pd.Series, top: int = 20) -> pd.DataFrame:
    """The numbers behind :func:`importance_figure`: feature, importance, block."""
    d = imp.head(top).rename_axis("feature").reset_index(name="importance")
    d["block"] = [f.rsplit("_", 1)[0] if f.rsplit("_", 1)[-1].isdigit() else "metadata"
                  for f in d["feature"]]
    return d


def importance_figure(imp: pd.Series, title: str, top: int = 20):
    """Bar chart of the ``top`` importances, coloured by feature block; save it with
    ``save_figure(fig, path, data=importance_data(imp, top))``."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    d = importance_data(imp, top)
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(d) + 1.2))
    sns.barplot(data=d, x="importance", y="feature", hue="block", dodge=False, ax=ax)
    ax.set(title=title, xlabel="share of total importance", ylabel="")
    return fig
