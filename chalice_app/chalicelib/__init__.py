"""The logic behind the Chalice handlers in ``app.py``."""
