"""HTTP routes, one blueprint per area of API.md."""
