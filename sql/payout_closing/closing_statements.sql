-- The statement of each merchant closing on C, from its lines and what its latest
-- earlier statement carried forward (docs/payout-closing.md, "Arithmetic"):
--
--   payable  = gross - fee + carried_in
--   paid     when payable - transfer_fee >= max(minimum_payout, 1):
--            transfer_fee = merchants.transfer_fee, net = payable - transfer_fee, carried_forward = 0
--   carried  otherwise: transfer_fee = 0, net = 0, carried_forward = payable
--
-- A merchant gets a statement when it has slips in the closing, a balance to carry in, or slips
-- this closing held back (payout_held_slips: the statement shows them, and why).
INSERT INTO closing_statements (
    merchant_id, payout_date, slip_count, gross_amount, fee, transfer_fee, net_amount, carried_in, carried_forward
)
WITH line_totals AS (
    SELECT merchant_id, SUM(slip_count) AS slip_count, SUM(gross_amount) AS gross_amount, SUM(fee) AS fee
    FROM closing_lines
    GROUP BY merchant_id
),
carried AS (
    SELECT earlier.merchant_id, earlier.carried_forward AS carried_in
    FROM payout_statements AS earlier
    WHERE earlier.closing_date < :closing_date
      AND earlier.carried_forward > 0
      AND NOT EXISTS (
          SELECT 1 FROM payout_statements AS later
          WHERE later.merchant_id = earlier.merchant_id
            AND later.closing_date > earlier.closing_date
            AND later.closing_date < :closing_date
      )
),
held AS (
    SELECT DISTINCT slips.merchant_id
    FROM payout_held_slips
    JOIN slips ON slips.id = payout_held_slips.slip_row_id
    WHERE payout_held_slips.closing_date = :closing_date
),
due AS (
    SELECT merchants.merchant_id, merchants.payout_cycle, merchants.transfer_fee, merchants.minimum_payout,
           COALESCE(line_totals.slip_count, 0) AS slip_count,
           COALESCE(line_totals.gross_amount, 0) AS gross_amount,
           COALESCE(line_totals.fee, 0) AS fee,
           COALESCE(carried.carried_in, 0) AS carried_in,
           COALESCE(line_totals.gross_amount, 0) - COALESCE(line_totals.fee, 0)
               + COALESCE(carried.carried_in, 0) AS payable
    FROM merchants
    LEFT JOIN line_totals ON line_totals.merchant_id = merchants.merchant_id
    LEFT JOIN carried ON carried.merchant_id = merchants.merchant_id
    LEFT JOIN held ON held.merchant_id = merchants.merchant_id
    WHERE (line_totals.merchant_id IS NOT NULL OR carried.merchant_id IS NOT NULL OR held.merchant_id IS NOT NULL)
      AND (merchants.payout_cycle = 'twice_monthly' OR :month_end)
),
decided AS (
    SELECT due.*,
           CASE WHEN payable - transfer_fee >= minimum_payout AND payable - transfer_fee > 0
                THEN 1 ELSE 0 END AS paid
    FROM due
)
SELECT merchant_id,
       CASE payout_cycle WHEN 'monthly' THEN :monthly_payout_date ELSE :twice_monthly_payout_date END,
       slip_count, gross_amount, fee,
       CASE WHEN paid = 1 THEN transfer_fee ELSE 0 END,
       CASE WHEN paid = 1 THEN payable - transfer_fee ELSE 0 END,
       carried_in,
       CASE WHEN paid = 1 THEN 0 ELSE payable END
FROM decided
