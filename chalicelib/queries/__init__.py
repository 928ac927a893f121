"""SQL over a tenant's own tables: the guard, the engines, the jobs."""
