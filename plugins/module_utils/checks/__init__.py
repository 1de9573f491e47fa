"""Inventory preflight checks: each function returns problem strings that name the variable."""
