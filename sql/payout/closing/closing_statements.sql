-- The statement of each merchant closing on C, from its lines, its adjustments and what its
-- latest earlier statement carried forward (docs/payout-closing.md, "Arithmetic"):
--
--   payable  = gross - fee + adjustments + carried_in
--   paid     when payable - transfer_fee >= max(minimum_payout, 1) and the merchant's current
--            account (in effect at the end of C) has no returned transfer:
--            transfer_fee = merchants.transfer_fee, net = payable - transfer_fee, carried_forward = 0
--   carried  otherwise: transfer_fee = 0, net = 0, carried_forward = payable (< 0: a debt)
--
-- The adjustments of C: those a run of C took before (closing_date = C) and those no closing took
-- yet that are effective by C (effective_on <= C); a closing takes them all (take_adjustments).
-- A merchant gets a statement when it has slips in the closing, a balance to carry in, slips
-- this closing held back (payout_held_slips: the statement shows them, and why) or adjustments.
INSERT INTO closing_statements (
    merchant_id, payout_date, slip_count, gross_amount, fee, transfer_fee, net_amount, carried_in, carried_forward,
    adjustment_amount
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
      AND earlier.carried_forward <> 0
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
adjusted AS (
    SELECT merchant_id, CAST(SUM(amount) AS BIGINT) AS adjustment_amount
    FROM payout_adjustments
    WHERE closing_date = :closing_date OR (closing_date IS NULL AND effective_on <= :closing_date)
    GROUP BY merchant_id
),
-- Merchants whose current account had a transfer come back (振込不能・組戻し) by the end of C:
-- nothing is paid to it again; the balance is carried until another account takes effect.
returned AS (
    SELECT DISTINCT periods.merchant_id
    FROM bank_account_periods AS periods
    JOIN payout_transfer_returns ON payout_transfer_returns.bank_account_id = periods.bank_account_id
    WHERE (periods.valid_from IS NULL OR periods.valid_from < :closing_end)
      AND (periods.valid_to IS NULL OR periods.valid_to >= :closing_end)
      AND payout_transfer_returns.registered_at < :closing_end
),
due AS (
    SELECT merchants.merchant_id, merchants.payout_cycle, merchants.transfer_fee, merchants.minimum_payout,
           COALESCE(line_totals.slip_count, 0) AS slip_count,
           COALESCE(line_totals.gross_amount, 0) AS gross_amount,
           COALESCE(line_totals.fee, 0) AS fee,
           COALESCE(carried.carried_in, 0) AS carried_in,
           COALESCE(adjusted.adjustment_amount, 0) AS adjustment_amount,
           CASE WHEN returned.merchant_id IS NULL THEN 0 ELSE 1 END AS account_returned,
           COALESCE(line_totals.gross_amount, 0) - COALESCE(line_totals.fee, 0)
               + COALESCE(adjusted.adjustment_amount, 0) + COALESCE(carried.carried_in, 0) AS payable
    FROM merchants
    LEFT JOIN line_totals ON line_totals.merchant_id = merchants.merchant_id
    LEFT JOIN carried ON carried.merchant_id = merchants.merchant_id
    LEFT JOIN held ON held.merchant_id = merchants.merchant_id
    LEFT JOIN adjusted ON adjusted.merchant_id = merchants.merchant_id
    LEFT JOIN returned ON returned.merchant_id = merchants.merchant_id
    WHERE (line_totals.merchant_id IS NOT NULL OR carried.merchant_id IS NOT NULL OR held.merchant_id IS NOT NULL
           OR adjusted.merchant_id IS NOT NULL)
      AND (merchants.payout_cycle = 'twice_monthly' OR :month_end)
),
decided AS (
    SELECT due.*,
           CASE WHEN payable - transfer_fee >= minimum_payout AND payable - transfer_fee > 0
                     AND account_returned = 0
                THEN 1 ELSE 0 END AS paid
    FROM due
)
SELECT merchant_id,
       CASE payout_cycle WHEN 'monthly' THEN :monthly_payout_date ELSE :twice_monthly_payout_date END,
       slip_count, gross_amount, fee,
       CASE WHEN paid = 1 THEN transfer_fee ELSE 0 END,
       CASE WHEN paid = 1 THEN payable - transfer_fee ELSE 0 END,
       carried_in,
       CASE WHEN paid = 1 THEN 0 ELSE payable END,
       adjustment_amount
FROM decided
