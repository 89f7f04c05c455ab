"""RQ jobs and the cron schedule: thin wrappers that call domain services with ids and plain values."""
