"""What the tests share: factories for the business database's rows (merchants, slips, bank
accounts, subscriptions...), Japan-time helpers, real SMTP and card-gateway servers for tests, and
the DAG files as Airflow parses them."""
