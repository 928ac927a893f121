"""Tenants, their members and what each role may do."""
