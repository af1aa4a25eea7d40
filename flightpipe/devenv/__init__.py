"""The local development environment: PostgreSQL, TLS for it, the compose path, processes."""
