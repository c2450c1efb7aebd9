"""The durable local event log: the outbox of every process and the embedded mode's bus.

``store.EventLog`` (SQLite in WAL mode), ``bus.EventLogBus`` (the EventPublisher and the
embedded transport), ``shipper.KafkaShipper`` (log -> Kafka, trims what Kafka acknowledged).
"""
