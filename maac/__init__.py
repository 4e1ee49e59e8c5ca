"""MAAC audio captioning pipeline."""
