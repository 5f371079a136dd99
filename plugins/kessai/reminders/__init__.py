"""Stale-slip reminders and expiry (SPEC §4.5)."""
