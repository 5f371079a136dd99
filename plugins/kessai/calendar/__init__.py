"""The Japanese business calendar and the date rules (SPEC §3, §4): business days, the
operators' overrides kept in the database, the rules that give each date, and which business
day a run stands for.
"""
