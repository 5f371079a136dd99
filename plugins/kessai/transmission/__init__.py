"""The daily transmission to the card companies (SPEC §4.2): the due slips claimed and held
back, the files, the store names and merchant numbers the records carry, the holds report, the
card companies' answers and the store-change notices.
"""
