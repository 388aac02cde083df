"""Paper A, stage 1 (Sec. 3): CLIP fine-tuned as a 77-subcategory classifier, anchored on
hierarchical prototypes, with dual-grained (global + local) prompts and a cross-modal
projection. The network never sees popularity; its features (CLIPFT) feed the boosting stage.

One module per concern:

* :mod:`.bank` - :class:`PrototypeBank` (the fixed prototypes of stage 02, Sec. 3.1) and the
  class index of each post;
* :mod:`.towers` - open_clip plumbing (text tower fed with embeddings, patch tokens,
  the stage-02 backbone);
* :mod:`.learners` - global and local prompt learners (Sec. 3.2);
* :mod:`.attention` - the cross-modal projection over the prototype set (Sec. 3.3, Eq. 6);
* :mod:`.model` - :class:`PromptCLIP`, the composition, and its loss;
* :mod:`.images` - :class:`ImageBank`, images decoded once (or streamed);
* :mod:`.train` - fine-tuning through the shared trainer;
* :mod:`.inputs` - what stage 03 trains on, and the model built from the ``finetune`` knobs;
* :mod:`.export` - CLIPFT features, per-post classification loss, the model file;
* :mod:`.accuracy` - 77-way top-1/top-5 tables.

Posts whose subcategory has no prototype (no train post) are *unseen*: label -1, a miss in
top-1/top-5, and ``cls_loss`` = cross-entropy to the uniform distribution. A *train* post with
an unknown subcategory is an error (the prototypes were built from the train split).
"""

from .accuracy import accuracy_report, branch_top1, topk_accuracy
from .attention import CrossModalProjection
from .bank import PrototypeBank, bank_from_prototypes, post_labels, random_bank
from .export import (BRANCHES, FEATURE_BLOCKS, clipft_matrix, export_clipft, extract,
                     load_model_state, per_post_loss, save_model)
from .images import ImageBank, tokenize_posts
from .inputs import TrainInputs, build_model, load_train_inputs
from .learners import GlobalPrompts, LocalPrompts
from .model import PromptCLIP
from .towers import (encode_text_trimmed, image_tower_tokens, load_backbone, num_patches,
                     text_tower_tokens)
from .train import FitHistory, fit_loop

__all__ = ["accuracy_report", "branch_top1", "topk_accuracy", "CrossModalProjection", "PrototypeBank",
           "bank_from_prototypes", "post_labels", "random_bank", "BRANCHES", "FEATURE_BLOCKS",
           "clipft_matrix", "export_clipft", "extract", "load_model_state", "per_post_loss",
           "save_model", "ImageBank", "tokenize_posts", "TrainInputs", "build_model", "load_train_inputs", "GlobalPrompts", "LocalPrompts",
           "PromptCLIP", "encode_text_trimmed", "image_tower_tokens", "load_backbone",
           "num_patches", "text_tower_tokens", "FitHistory", "fit_loop"]
