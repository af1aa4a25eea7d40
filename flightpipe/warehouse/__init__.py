"""The warehouse: Redshift on AWS, PostgreSQL locally, and the SQL files of its schema."""
