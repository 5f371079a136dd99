"""Slips before they are sent: the online side's operations (confirm, cancel, change the amount),
the bulk confirmation upload, the amounts a slip may take, and its card authorizations (与信).
"""
