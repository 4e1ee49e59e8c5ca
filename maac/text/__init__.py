"""Text layer: caption normalisation, vocabulary, keyword table and keyword labels.

Built from the training split only (never from validation or evaluation captions). This layer
imports only ``maac.data`` and the shared helpers below it, never models or training.
"""
