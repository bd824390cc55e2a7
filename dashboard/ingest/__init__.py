"""MQTT ingest: validate every message, fold it into the records idempotently, dead-letter the rest."""
