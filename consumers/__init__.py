"""FastStream workers: metering (events -> ClickHouse) and policy (events -> violations, decisions)."""
