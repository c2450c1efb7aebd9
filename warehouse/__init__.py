"""ClickHouse: client factory (server or embedded chdb), DDL migrations, inserts, stats queries."""
