"""Models: PANNs' ResNet38 trunk, the keyword encoder (Eq. 1-2), attention and decoder (Eq. 3-7).

This layer may import maac.audio, maac.errors, maac.atomic and maac.config, never the layers
above it (training, decoding, evaluation, cli).
"""
