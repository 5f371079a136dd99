-- A merchant's latest statements (unique (merchant_id, closing_date)).
SELECT statement_id, closing_date, payout_date, slip_count, gross_amount, fee, transfer_fee, net_amount,
       carried_in, carried_forward
FROM payout_statements
WHERE merchant_id = :merchant_id
ORDER BY closing_date DESC
LIMIT :limit
