-- The one pass over the slips of closing C (ix_slips_closing): a row per merchant and card company.
-- Grouped by plain columns only, so PostgreSQL aggregates in parallel workers as it does for a
-- plain GROUP BY; the bank accounts are looked up after, on these few rows.
--
--   slip_count, gross_amount  the slips of C registered since the merchant's latest bank account
--                             took effect (all of them for a merchant with one account): paid to
--                             that latest account
--   earlier_account_count     slips of C registered before that: lines_of_earlier_accounts looks
--                             each up in bank_account_periods
--   late_count                slips that carry C but were confirmed after it: they belong to a
--                             later closing (move_misassigned_slips)
--
-- "Confirmed by C" is effective_on <= C, written as confirmed_on <= C and registered before C
-- ends in Japan (closing_end), which needs no time zone conversion per row.
CREATE TEMP TABLE closing_slip_totals AS
SELECT merchant_id, card_company,
       COUNT(*) FILTER (WHERE by_closing = 1 AND before_latest_account = 0) AS slip_count,
       CAST(COALESCE(SUM(amount) FILTER (WHERE by_closing = 1 AND before_latest_account = 0), 0) AS BIGINT)
           AS gross_amount,
       COUNT(*) FILTER (WHERE by_closing = 1 AND before_latest_account = 1) AS earlier_account_count,
       COUNT(*) FILTER (WHERE by_closing = 0) AS late_count
FROM (
    SELECT slips.merchant_id, slips.card_company, slips.amount,
           CASE WHEN slips.confirmed_on <= :closing_date AND slips.confirmation_registered_at < :closing_end
                THEN 1 ELSE 0 END AS by_closing,
           CASE WHEN slips.confirmation_registered_at < latest.effective_from THEN 1 ELSE 0 END
               AS before_latest_account
    FROM slips
    LEFT JOIN (
        -- merchants that changed their account, with the moment of the latest change
        SELECT merchant_id, MAX(effective_from) AS effective_from
        FROM bank_accounts
        GROUP BY merchant_id
        HAVING COUNT(*) > 1
    ) AS latest ON latest.merchant_id = slips.merchant_id
    WHERE slips.closing_date = :closing_date
      AND slips.confirmed_on IS NOT NULL
) AS slips_of_closing
GROUP BY merchant_id, card_company
