"""Kernel settings for the os_tuning role (never lower a value)."""
