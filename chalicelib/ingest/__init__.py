"""The ingest path: one object from its S3 notification to a typed table (the queues' handlers are
routes/ingest.py)."""
