"""Encoders: open_clip models from local checkpoints (and the small project CLIP pre-trained on SMPD-Sim), offline MiniLM text embeddings, streaming extraction."""
