-- The closing dates in [first, last]: whether each ran, and its statements
-- (ix_payout_statements_closing_date).
SELECT c.closing_date,
       c.closed_at,
       (SELECT COUNT(*) FROM payout_statements s WHERE s.closing_date = c.closing_date) AS statements,
       (SELECT SUM(CAST(s.slip_count AS BIGINT)) FROM payout_statements s WHERE s.closing_date = c.closing_date) AS slip_count,
       (SELECT SUM(CAST(s.gross_amount AS BIGINT)) FROM payout_statements s WHERE s.closing_date = c.closing_date) AS gross_amount,
       (SELECT SUM(CAST(s.net_amount AS BIGINT)) FROM payout_statements s WHERE s.closing_date = c.closing_date) AS net_amount,
       (SELECT COUNT(*) FROM payout_held_slips h WHERE h.closing_date = c.closing_date) AS held_slips
FROM payout_closings c
WHERE c.closing_date BETWEEN :first AND :last
ORDER BY c.closing_date
