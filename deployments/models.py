"""Deployment plans, rollouts, monitoring metrics and drift checks (built in later work)."""
