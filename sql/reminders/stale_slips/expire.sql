-- Close the open slips of one payment date: expired_on is the day after their deadline, the same
-- whichever run notices it.
UPDATE slips
SET expired_on = :expired_on
WHERE payment_date = :payment_date
  AND confirmed_on IS NULL
  AND cancelled_at IS NULL
  AND expired_on IS NULL
