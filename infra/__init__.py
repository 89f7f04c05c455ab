"""Plumbing shared by every layer: configuration, database sessions, Redis, the clock and privacy masking."""
