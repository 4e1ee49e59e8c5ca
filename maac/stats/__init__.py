"""Resampling statistics: corpus metrics under clip weights, bootstrap intervals, paired tests."""
