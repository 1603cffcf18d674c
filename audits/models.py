"""Baseline runs, fairness audits, risk register and approval packs (built in later work)."""
