"""Offline training of the project's models (so far the extractive reader); run as scripts
(`python -m training.train_reader`), never imported by the product."""
