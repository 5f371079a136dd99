"""`python -m kessai explain`: every date of a slip with the rule that set it."""
