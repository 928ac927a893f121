"""Code that runs in Lambda: routes, event handlers, domain logic and AWS access."""

__version__ = "0.1.0"
