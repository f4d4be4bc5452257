"""Database adapter: models, migrations and every SQL statement, by name."""
