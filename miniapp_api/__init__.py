"""The mini-program's JSON API under /api/v1."""
