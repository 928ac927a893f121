"""Files: uploads, their records and bytes, quotas, and the table names their ingest takes."""
