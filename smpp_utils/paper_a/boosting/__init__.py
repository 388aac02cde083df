"""Paper A, stage 2: gradient-boosted regressors (LightGBM, CatBoost) on metadata plus
multimodal feature blocks, with the paper's loss-based sample selection.

Paper A extracts features from its fine-tuned CLIP (CLIPFT), keeps the training posts
whose classification loss is lowest (77% of them) and fits LightGBM / CatBoost on those
features together with user-behaviour metadata. Notebook ``05_boosting`` strings together:

* :mod:`.inputs` - input files, their checks, blocks aligned by Pid, stage 03's
  direct-regression predictions;
* :mod:`.matrices` - the loss-based selection and the feature matrix;
* :mod:`.models` - seeded, thread-fixed LightGBM / CatBoost fits and the variant runs;
* :mod:`.tables` - summaries, the report table, caption and metrics;
* :mod:`.figures` - the importance figure and the data behind it.
"""

from .figures import importance_data, importance_figure
from .inputs import INPUTS, check_inputs, direct_regression_results, input_path, load_blocks
from .matrices import (categorical_columns, feature_matrix, pca_dims_for, select_by_loss,
                       train_selection)
from .models import (REGRESSORS, best_iteration, default_threads, fit_catboost, fit_lgbm,
                     importance, predict, run_all, run_variant)
from .tables import (NEURAL_HEAD, PAPER_A_REPORTED, PAPER_COLUMN, VARIANT_LABELS,
                     mean_importance, metrics_summary, paperA_table, predictions_frame,
                     summarize, table_caption)

__all__ = ["importance_data", "importance_figure", "INPUTS", "check_inputs",
           "direct_regression_results", "input_path", "load_blocks", "categorical_columns",
           "feature_matrix", "pca_dims_for", "select_by_loss", "train_selection", "REGRESSORS",
           "best_iteration", "default_threads", "fit_catboost", "fit_lgbm", "importance",
           "predict", "run_all", "run_variant", "NEURAL_HEAD", "PAPER_A_REPORTED",
           "PAPER_COLUMN", "VARIANT_LABELS", "mean_importance", "metrics_summary",
           "paperA_table", "predictions_frame", "summarize", "table_caption"]
