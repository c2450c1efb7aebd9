"""Bottom layer every process part may import: settings, metrics registry, Kafka topic admin, runtime parts."""
