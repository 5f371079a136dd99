-- The payout dates in [first, last]: statements paid on each (ix_payout_statements_payout_date)
-- and their transfers, filed or not (ix_payout_transfers_payout_date).
SELECT p.payout_date,
       COUNT(*) AS statements,
       SUM(CAST(p.net_amount AS BIGINT)) AS net_amount,
       (SELECT COUNT(*) FROM payout_transfers t WHERE t.payout_date = p.payout_date) AS transfers,
       (SELECT SUM(CAST(t.amount AS BIGINT)) FROM payout_transfers t WHERE t.payout_date = p.payout_date) AS transfer_amount,
       (SELECT COUNT(*) FROM payout_transfers t
         WHERE t.payout_date = p.payout_date AND t.transfer_file_id IS NOT NULL) AS filed,
       (SELECT SUM(CAST(t.amount AS BIGINT)) FROM payout_transfers t
         WHERE t.payout_date = p.payout_date AND t.transfer_file_id IS NOT NULL) AS filed_amount
FROM payout_statements p
WHERE p.payout_date BETWEEN :first AND :last
GROUP BY p.payout_date
ORDER BY p.payout_date
