"""Files: uploads, their records, their bytes, quotas."""
