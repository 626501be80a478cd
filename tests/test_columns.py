"""The column catalogue (edgebench.results.columns) is the one source of the results'
columns: summary.csv's header, the store's jobs table and results.load's columns and
dtypes all follow it (issue 14)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from edgebench import results
from edgebench.results import columns as C
from edgebench.results.rows import summary_csv
from edgebench.store import Store
from tests.store.runfactory import RunSpec, make_run


def test_catalogue_facts() -> None:
    assert len(C.SUMMARY_COLUMNS) == len(set(C.SUMMARY_COLUMNS)) == 72
    assert C.SUMMARY_COLUMNS[:4] == ("run_id", "model", "variant", "device")
    assert C.SUMMARY_COLUMNS[-1] == "execution_precision"
    assert C.BY_NAME["latency_p50_s"] == C.Column("latency_p50_s", "float", "s", "jobs")
    assert C.BY_NAME["peak_rss_bytes"].kind == "int" and C.unit_of("peak_rss_bytes") == "bytes"
    assert C.unit_of("energy_per_inference_j") == "J" and C.unit_of("mean_power_w") == "W"
    assert C.SPECIAL_COLUMNS == {"run_id", "job_id", "fingerprint"}
    assert C.EXTRA_JSON_COLUMNS == {"auto_added", "flash_bytes", "weights_bytes", "arena_bytes",
                                    "mcu_fit", "uss_bytes", "pss_bytes", "model_load_bytes",
                                    "inference_extra_bytes", "execution_precision"}
    assert {c.kind for c in C.CATALOGUE + C.LOAD_CATALOGUE} <= set(C.KINDS)
    assert {c.where for c in C.CATALOGUE + C.LOAD_CATALOGUE} <= set(C.PLACES)
    for col in C.CATALOGUE:  # the unit is in the name (latency_s, size_bytes, energy_j)
        suffix = {"s": "_s", "bytes": "_bytes", "J": "_j", "W": "_w", "C": "_c"}.get(col.unit)
        assert suffix is None or col.name.endswith(suffix), col


def test_summary_csv_header_is_the_catalogue() -> None:
    header = summary_csv([]).splitlines()[0].split(",")
    assert header == list(C.SUMMARY_COLUMNS)
    assert header[10:13] == ["size_bytes", "size_gzip_bytes", "load_s"]


def test_store_columns_are_the_catalogue(tmp_path: Path) -> None:
    from edgebench.store import schema

    store = Store(tmp_path / "s.db")
    store.close()
    engine = sa.create_engine(f"sqlite:///{tmp_path / 's.db'}")
    with engine.connect() as conn:
        on_disk = {c["name"]: c["type"] for c in sa.inspect(conn).get_columns("jobs")}
    engine.dispose()
    summary_cols = [c for c in schema.jobs.c.keys()
                    if c in C.SUMMARY_COLUMNS and c not in C.SPECIAL_COLUMNS]
    assert summary_cols == list(C.DB_COLUMNS)
    assert "latency_p50_s" in C.DB_COLUMNS and "uss_bytes" not in C.DB_COLUMNS
    assert not set(C.DB_COLUMNS) & (C.EXTRA_JSON_COLUMNS | C.SPECIAL_COLUMNS)
    assert isinstance(on_disk["latency_p50_s"], sa.Float)
    assert isinstance(on_disk["peak_rss_bytes"], sa.BigInteger)
    assert isinstance(on_disk["throttled"], sa.Boolean)
    assert isinstance(on_disk["model"], sa.Text)
    for name in C.DB_COLUMNS:
        want = {"text": sa.Text, "int": sa.BigInteger, "float": sa.Float, "bool": sa.Boolean}
        assert isinstance(on_disk[name], want[C.BY_NAME[name].kind]), name


def test_load_columns_and_dtypes_are_the_catalogue(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.ingest_dir(make_run(tmp_path, RunSpec("r1", seed=1)))
    df = results.load(store)
    store.close()
    assert list(df.columns) == list(C.LOAD_COLUMNS)
    assert list(df.columns)[-4:] == ["suite", "run_started_at", "run_finished_at", "run_complete"]
    assert str(df["latency_p50_s"].dtype) == "float64"
    assert str(df["size_bytes"].dtype) == "Int64" and str(df["uss_bytes"].dtype) == "Int64"
    assert str(df["noop"].dtype) == "boolean" and str(df["run_complete"].dtype) == "boolean"
    assert df["model"].tolist()[0] == "mobilenet_v2"
    for name in C.LOAD_COLUMNS:  # text stays as pandas reads it (object or str)
        kind = C.BY_NAME[name].kind
        if kind != "text":
            assert str(df[name].dtype) == C.FRAME_DTYPES[kind], name
