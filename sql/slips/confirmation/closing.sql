-- The closing each confirmation would belong to: the first closing of the merchant's cycle on or
-- after the later of the registration date and confirmed_on (SPEC §4.4). A row whose date lies
-- past the business calendar finds no day and keeps no closing date.
UPDATE confirmation_rows
SET closing_date = CASE merchants.payout_cycle
                       WHEN 'monthly' THEN business_calendar.monthly_closing_date
                       WHEN 'twice_monthly' THEN business_calendar.twice_monthly_closing_date
                   END
FROM merchants, business_calendar
WHERE merchants.merchant_id = confirmation_rows.merchant_id
  AND business_calendar.day = CASE WHEN confirmation_rows.confirmed_on > :registered_on
                                   THEN confirmation_rows.confirmed_on
                                   ELSE :registered_on END
  AND confirmation_rows.slip_row_id IS NOT NULL
  AND confirmation_rows.reason IS NULL
  AND confirmation_rows.held_back = :recheck
