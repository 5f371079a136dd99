"""The operators' console: read-only pages over the business database, served by Airflow's API
server as a plugin app (plugins/kessai_console.py). docs/console.md."""
