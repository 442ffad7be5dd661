"""Which Delta tables a query reads through the endpoint's views (so only those are renewed)."""
from sinks.sql_endpoint.engine import tables_read


def view(name: str, body: str) -> str:
    return f"CREATE VIEW {name} AS {body};"


def test_a_view_reads_its_own_scans_and_those_of_the_views_it_names():
    views = {
        "links": view("links", "SELECT * FROM delta_scan('/lake/links_log', (pushdown_filters = 'none'))"),
        "Dim": view("Dim", "SELECT * FROM delta_scan('/lake/features_log') f, "
                           "(SELECT max(x) FROM delta_scan('/lake/metrics_log')) w"),
        "orders": view("orders", "SELECT * FROM delta_scan('/lake/it''s orders') o JOIN links l USING (k)"),
        "segment_vip": view("segment_vip", "SELECT * FROM Dim WHERE vip"),
        "links_by_day": view("links_by_day", "SELECT * FROM links_2"),  # not the view `links`
    }
    reads = tables_read(views)
    assert reads["links"] == {"/lake/links_log"}
    assert reads["dim"] == {"/lake/features_log", "/lake/metrics_log"}
    assert reads["orders"] == {"/lake/it's orders", "/lake/links_log"}
    assert reads["segment_vip"] == reads["dim"]
    assert reads["links_by_day"] == set()


def test_views_that_name_each_other_do_not_loop():
    views = {"a": view("a", "SELECT * FROM b, delta_scan('/lake/a')"),
             "b": view("b", "SELECT * FROM a, delta_scan('/lake/b')")}
    assert tables_read(views)["a"] == {"/lake/a", "/lake/b"}
