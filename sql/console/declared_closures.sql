SELECT day, is_open, reason FROM calendar_overrides WHERE day BETWEEN :first AND :last ORDER BY day
