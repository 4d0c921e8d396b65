"""gridweave: a GraphQL backend for regional multi-organization coordination."""

__version__ = "0.1.0"
