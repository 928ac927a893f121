"""The app's entry points, one blueprint per area: the HTTP routes of API.md, and the ingest
queues' handlers (ingest.py)."""
