-- The one pass over the slips of closing C (ix_slips_closing): a row per merchant and card company.
-- Grouped by plain columns only, so PostgreSQL aggregates in parallel workers as it does for a
-- plain GROUP BY; the bank accounts are looked up after, on these few rows.
--
-- Each slip goes to the account whose period holds its registration (bank_account_periods). The
-- pass tells the periods apart by when the merchant's latest two accounts took effect, from a
-- small aggregate over bank_accounts (a window function there would keep the join out of the
-- parallel workers). The counts are of every slip carrying C:
--   slip_count, gross_amount        registered since the latest account took effect (every slip
--                                   of a merchant with one account): paid to the latest account
--   previous_count, previous_gross  registered before that, in the previous account's period
--                                   (which starts at the beginning for a merchant's first account)
--   earlier_account_count           registered before the previous account took effect (a merchant
--                                   with three accounts or more): lines_of_earlier_accounts looks
--                                   each up
--   late_count                      confirmed after C (effective_on > C, written as confirmed_on > C
--                                   or registered after C ended in Japan, with no time zone
--                                   conversion per row): they belong to a later closing; the run
--                                   moves them (move_misassigned_slips) and counts again
CREATE TEMP TABLE closing_slip_totals AS
SELECT merchant_id, card_company,
       all_count - previous_count - earlier_account_count AS slip_count,
       all_gross - previous_gross - earlier_gross AS gross_amount,
       previous_count, previous_gross, earlier_account_count, late_count
FROM (
    SELECT slips.merchant_id, slips.card_company,
           COUNT(*) AS all_count,
           CAST(SUM(slips.amount) AS BIGINT) AS all_gross,
           COUNT(*) FILTER (WHERE slips.confirmation_registered_at < changes.latest_from
                              AND (changes.earlier_accounts = 1
                                   OR slips.confirmation_registered_at >= changes.previous_from))
               AS previous_count,
           CAST(COALESCE(SUM(slips.amount) FILTER (
               WHERE slips.confirmation_registered_at < changes.latest_from
                 AND (changes.earlier_accounts = 1 OR slips.confirmation_registered_at >= changes.previous_from)
           ), 0) AS BIGINT) AS previous_gross,
           COUNT(*) FILTER (WHERE slips.confirmation_registered_at < changes.previous_from
                              AND changes.earlier_accounts > 1) AS earlier_account_count,
           CAST(COALESCE(SUM(slips.amount) FILTER (
               WHERE slips.confirmation_registered_at < changes.previous_from AND changes.earlier_accounts > 1
           ), 0) AS BIGINT) AS earlier_gross,
           COUNT(*) FILTER (WHERE slips.confirmed_on > :closing_date
                              OR slips.confirmation_registered_at >= :closing_end) AS late_count
    FROM slips
    LEFT JOIN (
        -- merchants that changed their account: when the latest and the previous account took effect
        SELECT latest.merchant_id, latest.effective_from AS latest_from,
               MAX(earlier.effective_from) AS previous_from, COUNT(*) AS earlier_accounts
        FROM (
            SELECT merchant_id, MAX(effective_from) AS effective_from FROM bank_accounts GROUP BY merchant_id
        ) AS latest
        JOIN bank_accounts AS earlier
          ON earlier.merchant_id = latest.merchant_id AND earlier.effective_from < latest.effective_from
        GROUP BY latest.merchant_id, latest.effective_from
    ) AS changes ON changes.merchant_id = slips.merchant_id
    WHERE slips.closing_date = :closing_date
      AND slips.confirmed_on IS NOT NULL
    GROUP BY slips.merchant_id, slips.card_company
) AS totals
