"""Domain logic as plain functions taking a DB session: shared by the webhook, the API, the console and jobs."""
