-- The slips held_slips held back from C move to their merchant's next closing (the first of its
-- cycle after C), where they are paid if they have gone out by then, or held back again.
UPDATE slips
SET closing_date = (
    SELECT CASE merchants.payout_cycle
               WHEN 'monthly' THEN business_calendar.monthly_closing_date
               WHEN 'twice_monthly' THEN business_calendar.twice_monthly_closing_date
           END
    FROM merchants
    JOIN business_calendar ON business_calendar.day = :day_after_closing
    WHERE merchants.merchant_id = slips.merchant_id
)
WHERE closing_date = :closing_date
  AND id IN (SELECT slip_row_id FROM payout_held_slips WHERE closing_date = :closing_date)
