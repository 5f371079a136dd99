-- One 'confirmed' event per applied row (every row left without a reason); an import's rows
-- also name their line in the file.
INSERT INTO slip_events (slip_row_id, event, business_date, detail, occurred_at)
SELECT slip_row_id,
       'confirmed',
       :registered_on,
       '{"confirmed_on": "' || CAST(confirmed_on AS TEXT)
           || '", "closing_date": "' || CAST(closing_date AS TEXT)
           || '", "source": "' || :source || '"'
           || CASE WHEN :source = 'import' THEN ', "line": ' || CAST(line_number AS TEXT) ELSE '' END
           || '}',
       :registered_at
FROM confirmation_rows
WHERE reason IS NULL
ORDER BY line_number
