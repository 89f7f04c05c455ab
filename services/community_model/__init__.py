"""A community's own appeal history as training data for its own classification model."""
