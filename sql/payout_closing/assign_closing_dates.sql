-- Confirmed slips written without a closing date get the one the rule gives (SPEC §4.4): the
-- first closing of the merchant's cycle on or after effective_on = max(registered date,
-- confirmed_on). One set-based pass: normally over a few slips (ix_slips_awaiting_closing_date),
-- after a bulk load over all of them. A slip whose effective_on lies past the business calendar
-- keeps NULL until the calendar reaches it.
-- A slip written after the closing its rule gives has run (open_from: the day after the latest
-- closing that ran) goes to the first closing still open instead: it is paid late, not lost.
UPDATE slips
SET closing_date = CASE merchants.payout_cycle
                       WHEN 'monthly' THEN business_calendar.monthly_closing_date
                       WHEN 'twice_monthly' THEN business_calendar.twice_monthly_closing_date
                   END
FROM dated_slips
JOIN merchants ON merchants.merchant_id = dated_slips.merchant_id
JOIN business_calendar
  ON business_calendar.day = CASE WHEN dated_slips.effective_on < :open_from
                                  THEN :open_from ELSE dated_slips.effective_on END
WHERE dated_slips.id = slips.id
  AND dated_slips.closing_date IS NULL
  AND dated_slips.confirmed_on IS NOT NULL
  AND slips.closing_date IS NULL
  AND slips.confirmed_on IS NOT NULL
