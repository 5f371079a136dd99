-- The slips the transmission run of day held back, by reason. Each slip's amount is one probe of
-- its primary key: a join would let PostgreSQL hash a scan of every slip once the holds are many.
SELECT h.reason, COUNT(*) AS slip_count,
       SUM((SELECT CAST(s.amount AS BIGINT) FROM slips s WHERE s.id = h.slip_row_id)) AS amount
FROM transmission_holds h
WHERE h.business_date = :day
GROUP BY h.reason
ORDER BY h.reason
