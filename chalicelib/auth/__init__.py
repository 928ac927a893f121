"""Who is calling and what they may do: verified identity, Cognito accounts, roles and actions."""
