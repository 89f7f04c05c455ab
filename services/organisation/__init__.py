"""The community's organisation: residents and their places, mini-program identity, CSV imports."""
