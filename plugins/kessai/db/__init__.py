"""The business database: where it is (engine, URL), its tables (schema), the migrations that
build them, the SQL files the jobs run, and loading many rows at once.
"""
