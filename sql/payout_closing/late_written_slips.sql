-- Confirmed slips without a closing date whose rule's closing has run already (see
-- assign_closing_dates): counted before they go to the first closing still open.
SELECT COUNT(*)
FROM dated_slips
WHERE closing_date IS NULL
  AND confirmed_on IS NOT NULL
  AND effective_on < :open_from
