-- A slip named twice in one batch: the first row counts, every later one is a duplicate.
UPDATE confirmation_rows
SET reason = 'duplicate_row',
    duplicate_of = firsts.first_line
FROM (
    SELECT line_number,
           MIN(line_number) OVER (PARTITION BY merchant_id, slip_id) AS first_line
    FROM confirmation_rows
) AS firsts
WHERE firsts.line_number = confirmation_rows.line_number
  AND firsts.first_line < firsts.line_number
