"""Run tracking with MLflow: one run per training stage, nested under one run per pipeline."""
