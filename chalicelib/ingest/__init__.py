"""The ingest path: S3 object-created notifications arriving through SQS."""
