"""API routers, one per family of endpoints."""
