-- The card gateway calls of the charge day by outcome (ix_charge_attempts_charge_date), with the
-- amount of their slips, each one probe of its primary key (as transmission_holds.sql).
SELECT a.outcome, COUNT(*) AS attempts,
       SUM((SELECT CAST(s.amount AS BIGINT) FROM slips s WHERE s.id = a.slip_row_id)) AS amount
FROM charge_attempts a
WHERE a.charge_date = :day
GROUP BY a.outcome
ORDER BY a.outcome
