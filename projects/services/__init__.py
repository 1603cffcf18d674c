"""Writes. Each service is atomic and appends its event in the same transaction."""
