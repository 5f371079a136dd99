"""Payouts (SPEC §4.4): the closing and its statements, adjustments, fees and invoices, the
Zengin transfer files, the bank master and accounts, and transfers the bank returns.
"""
