-- Confirmed slips written without a closing date, confirmed by fill_through, with the closing the
-- rule gives (SPEC §4.4): the first closing of the merchant's cycle on or after effective_on =
-- max(registered date, confirmed_on). Those confirmed later wait for a later run (a closing fills
-- only what it may pay). A slip written after the closing its rule gives has run (open_from: the
-- day after the latest closing that ran) gets the first closing still open instead (written_late):
-- it is paid late, not lost. Normally a few slips, found by ix_slips_awaiting_closing_date.
CREATE TEMP TABLE closing_fill AS
SELECT dated_slips.id,
       CASE merchants.payout_cycle
           WHEN 'monthly' THEN business_calendar.monthly_closing_date
           WHEN 'twice_monthly' THEN business_calendar.twice_monthly_closing_date
       END AS closing_date,
       CASE WHEN dated_slips.effective_on < :open_from THEN 1 ELSE 0 END AS written_late
FROM dated_slips
JOIN merchants ON merchants.merchant_id = dated_slips.merchant_id
JOIN business_calendar
  ON business_calendar.day = CASE WHEN dated_slips.effective_on < :open_from
                                  THEN :open_from ELSE dated_slips.effective_on END
WHERE dated_slips.closing_date IS NULL
  AND dated_slips.confirmed_on IS NOT NULL
  AND dated_slips.effective_on <= :fill_through
