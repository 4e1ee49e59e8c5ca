"""Captioning audio files with a trained model bundle (``maac caption``, ``maac.Captioner``)."""
