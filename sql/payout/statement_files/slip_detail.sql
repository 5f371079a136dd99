-- The slips behind the statements of closing C (支払明細's slip detail), in one pass, streamed by
-- merchant: every slip paid in C (carrying C: ix_slips_closing), with the account its line pays
-- (the account whose period holds its registration), and every slip C held back (payout_held_slips,
-- one row per slip with its reasons joined). 利用日 is the day the slip went to its card company;
-- a slip confirmed on C itself goes out after C (SPEC §4.6) and shows the day it is due, so the
-- file a backfill writes is the file the run on C+1 wrote.
SELECT paid.merchant_id, 'paid' AS status, paid.slip_id, paid.card_company, paid.amount,
       paid.payment_date, paid.confirmed_on, paid.registered_on,
       CASE WHEN paid.transmitted_on <= :closing_date THEN paid.transmitted_on
            ELSE business_calendar.next_business_day END AS usage_date,
       accounts.bank_code, accounts.branch_code, accounts.account_number,
       CASE WHEN EXISTS (SELECT 1 FROM payout_held_slips AS earlier
                         WHERE earlier.slip_row_id = paid.id AND earlier.closing_date < :closing_date)
            THEN 1 ELSE 0 END AS paid_late,
       '' AS reasons
FROM dated_slips AS paid
JOIN payout_statements
  ON payout_statements.merchant_id = paid.merchant_id AND payout_statements.closing_date = paid.closing_date
JOIN business_calendar ON business_calendar.day = paid.effective_on
JOIN bank_account_periods AS periods
  ON periods.merchant_id = paid.merchant_id
 AND (periods.valid_from IS NULL OR periods.valid_from <= paid.confirmation_registered_at)
 AND (periods.valid_to IS NULL OR periods.valid_to > paid.confirmation_registered_at)
JOIN bank_accounts AS accounts ON accounts.bank_account_id = periods.bank_account_id
WHERE paid.closing_date = :closing_date
UNION ALL
SELECT held.merchant_id, 'held' AS status, held.slip_id, held.card_company, held.amount,
       held.payment_date, held.confirmed_on, held.registered_on,
       NULL AS usage_date, NULL AS bank_code, NULL AS branch_code, NULL AS account_number,
       0 AS paid_late, reasons.reasons
FROM (SELECT slip_row_id, MIN(reason) AS reasons FROM payout_held_slips
      WHERE closing_date = :closing_date GROUP BY slip_row_id) AS reasons
JOIN dated_slips AS held ON held.id = reasons.slip_row_id
ORDER BY merchant_id, status DESC, payment_date, slip_id
