"""The live dashboard: one page, polling JSON panels computed over the warehouse's views.

Like the SQL endpoint it queries an in-memory copy of the views (sinks.sql_endpoint.engine),
so the warehouse file is never held open and the worker can re-create it at start-up.
"""
from sinks.dashboard.app import make_app
from sinks.dashboard.server import DashboardError, DashboardServer, serve_dashboard

__all__ = ["DashboardError", "DashboardServer", "make_app", "serve_dashboard"]
