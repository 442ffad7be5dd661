"""Render the data dictionary from real views over an empty lake of the config's shape."""
from __future__ import annotations

import tempfile
from pathlib import Path

from sinks.delta import DeltaSink
from sinks.view_docs import data_dictionary
from sinks.warehouse import connect, create_views


def render_data_dictionary(settings) -> str:
    attributes = settings.engine.attributes
    with tempfile.TemporaryDirectory() as tmp:
        lake, warehouse = Path(tmp) / "lake", Path(tmp) / "warehouse.duckdb"
        DeltaSink(lake, attributes)
        names = create_views(warehouse, lake, attributes, **settings.view_options)
        con = connect(warehouse, read_only=True)
        try:
            columns = {name: [(c, t) for c, t, *_ in con.execute(f"DESCRIBE {name}").fetchall()]
                       for name in names}
        finally:
            con.close()
    return data_dictionary(columns, dict(settings.model.measures), dict(settings.model.segments))
