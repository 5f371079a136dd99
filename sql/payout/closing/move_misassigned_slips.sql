-- Slips that carry closing date C without belonging to it move to their merchant's first closing
-- after C on or after their effective_on: slips confirmed after C (effective_on > C), and slips of
-- a merchant whose cycle has no closing on C (a merchant that left the twice-monthly cycle).
-- Never backwards: a closing pays nothing confirmed after it, and nothing is left behind in a
-- closing that already ran. Runs only when closing_slip_totals found such slips.
UPDATE slips
SET closing_date = (
    SELECT CASE merchants.payout_cycle
               WHEN 'monthly' THEN business_calendar.monthly_closing_date
               WHEN 'twice_monthly' THEN business_calendar.twice_monthly_closing_date
           END
    FROM dated_slips
    JOIN merchants ON merchants.merchant_id = dated_slips.merchant_id
    JOIN business_calendar
      ON business_calendar.day = CASE WHEN dated_slips.effective_on > :closing_date
                                      THEN dated_slips.effective_on ELSE :day_after_closing END
    WHERE dated_slips.id = slips.id
)
WHERE closing_date = :closing_date
  AND id IN (
      SELECT dated_slips.id
      FROM dated_slips
      JOIN merchants ON merchants.merchant_id = dated_slips.merchant_id
      WHERE dated_slips.closing_date = :closing_date
        AND dated_slips.confirmed_on IS NOT NULL
        AND NOT (dated_slips.effective_on <= :closing_date
                 AND (merchants.payout_cycle = 'twice_monthly' OR :month_end))
  )
