"""Running gridweave in production: metrics, readiness, GraphiQL assets, backups, tracing."""
