"""Who is calling: verified identity, tenant membership and role."""
