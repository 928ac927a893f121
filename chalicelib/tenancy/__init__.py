"""Tenants and their members: accounts, invitations, roles held."""
