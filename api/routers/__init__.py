"""One router module per resource; each exposes `router` (see api/app.py ROUTER_MODULES)."""
