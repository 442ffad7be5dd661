"""`unify serve`: the warehouse over the PostgreSQL wire protocol, read-only and password-protected.

psql, psycopg and BI tools connect to it as to a PostgreSQL database; queries run in DuckDB
over the warehouse's views, so each one reads the latest committed Delta data.
"""
from sinks.sql_endpoint.server import EndpointError, SqlEndpoint, serve

__all__ = ["EndpointError", "SqlEndpoint", "serve"]
