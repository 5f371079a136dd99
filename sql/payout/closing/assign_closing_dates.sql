-- The closing dates of closing_fill written into the slips, each slip found by its key.
UPDATE slips
SET closing_date = closing_fill.closing_date
FROM closing_fill
WHERE slips.id = closing_fill.id
