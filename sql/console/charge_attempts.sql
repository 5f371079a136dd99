-- The card gateway calls of the charge day day by outcome (ix_charge_attempts_charge_date), with
-- the amount of their slips (each by its primary key).
SELECT a.outcome, COUNT(*) AS attempts, SUM(CAST(s.amount AS BIGINT)) AS amount
FROM charge_attempts a
JOIN slips s ON s.id = a.slip_row_id
WHERE a.charge_date = :day
GROUP BY a.outcome
ORDER BY a.outcome
