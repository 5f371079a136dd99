-- The slips the transmission run of day held back, by reason: each slip by its primary key.
SELECT h.reason, COUNT(*) AS slip_count, SUM(CAST(s.amount AS BIGINT)) AS amount
FROM transmission_holds h
JOIN slips s ON s.id = h.slip_row_id
WHERE h.business_date = :day
GROUP BY h.reason
ORDER BY h.reason
