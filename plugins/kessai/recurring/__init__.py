"""Recurring billing (SPEC §4.3): the month's recurring slips, their charge through the card
gateway, the charge cycle, and the failures told to merchants and customers.
"""
