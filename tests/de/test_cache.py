"""The DESeq2 cache: hits skip the fit, corrupt entries are recomputed, keys track inputs."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pydeseq2
import pytest

import genexai.de.cache as cache
from genexai.de import cache_key, cached_deseq2


@pytest.fixture
def counted_fit(monkeypatch):
    """Wrap the real fit so tests can count how often DESeq2 actually runs."""
    calls = []
    real = cache.run_deseq2

    def fit(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(cache, "run_deseq2", fit)
    return calls


def entries(cache_dir):
    return sorted(p.name for p in cache_dir.iterdir())


def test_second_call_is_a_hit_without_refit(tiny_nb, tmp_path, counted_fit):
    counts, metadata, _ = tiny_nb
    first, hit1 = cached_deseq2(counts, metadata, cache_dir=tmp_path)
    second, hit2 = cached_deseq2(counts, metadata, cache_dir=tmp_path, n_cpus=2)
    assert (hit1, hit2) == (False, True)
    assert len(counted_fit) == 1
    pd.testing.assert_frame_equal(first, second, check_exact=True)
    # One entry, no temporary files left behind by the atomic write.
    assert len(entries(tmp_path)) == 1 and entries(tmp_path)[0].endswith(".parquet")


def test_corrupt_entries_are_recomputed(tiny_nb, tmp_path, counted_fit, caplog):
    counts, metadata, _ = tiny_nb
    reference, _ = cached_deseq2(counts, metadata, cache_dir=tmp_path)
    (entry,) = tmp_path.iterdir()

    entry.write_bytes(entry.read_bytes()[:100])  # truncated, as by a killed writer
    table, hit = cached_deseq2(counts, metadata, cache_dir=tmp_path)
    assert not hit and len(counted_fit) == 2
    assert "unreadable" in caplog.text
    pd.testing.assert_frame_equal(table, reference, check_exact=True)

    # Readable parquet whose values no longer match the stored checksum.
    arrow = pq.read_table(entry)
    tampered = arrow.to_pandas()
    tampered.iloc[0, 0] += 1.0
    pq.write_table(
        pa.Table.from_pandas(tampered).replace_schema_metadata(arrow.schema.metadata), entry
    )
    table, hit = cached_deseq2(counts, metadata, cache_dir=tmp_path)
    assert not hit and len(counted_fit) == 3
    assert "does not match" in caplog.text
    pd.testing.assert_frame_equal(table, reference, check_exact=True)

    assert cached_deseq2(counts, metadata, cache_dir=tmp_path)[1]  # repaired entry is used
    assert len(counted_fit) == 3


def test_key_changes_when_any_input_changes(tiny_nb, monkeypatch):
    counts, metadata, _ = tiny_nb
    base = cache_key(counts, metadata)
    one_count = counts.copy()
    one_count.iloc[0, 0] += 1
    one_label = metadata.copy()
    one_label.loc["s00", "condition"] = "B"
    changed = {
        "count": cache_key(one_count, metadata),
        "gene name": cache_key(counts.rename(columns={"g0000": "other"}), metadata),
        "sample order": cache_key(counts.iloc[::-1], metadata),
        "label": cache_key(counts, one_label),
        "design": cache_key(counts, metadata, design="~batch + condition"),
        "reference": cache_key(counts, metadata, ref_level="B"),
        "alpha": cache_key(counts, metadata, alpha=0.1),
        "shrink": cache_key(counts, metadata, lfc_shrink=True),
        "cooks": cache_key(counts, metadata, cooks_filter=False),
        "refit": cache_key(counts, metadata, refit_cooks=False),
    }
    monkeypatch.setattr(pydeseq2, "__version__", "0.0.0")
    changed["pydeseq2 version"] = cache_key(counts, metadata)
    monkeypatch.undo()
    assert all(key != base for key in changed.values()), changed
    assert len(set(changed.values())) == len(changed)

    # Equivalent inputs share an entry: explicit default reference, unused metadata.
    assert cache_key(counts, metadata, ref_level="A") == base
    assert cache_key(counts, metadata, contrast=["condition", "B", "A"]) == base
    assert cache_key(counts, metadata.assign(unused=range(len(metadata)))) == base


def test_no_cache_dir_just_fits(tiny_nb, monkeypatch):
    counts, metadata, _ = tiny_nb
    fake = pd.DataFrame({"padj": [0.5]})
    monkeypatch.setattr(cache, "run_deseq2", lambda *args, **kwargs: fake)
    table, hit = cached_deseq2(counts, metadata, cache_dir=None)
    assert table is fake and not hit


def test_entry_records_its_key(tiny_nb, tmp_path):
    counts, metadata, _ = tiny_nb
    cached_deseq2(counts, metadata, cache_dir=tmp_path)
    (entry,) = tmp_path.iterdir()
    info = json.loads(pq.read_schema(entry).metadata[b"genexai_deseq2"])
    assert info["key"] == cache_key(counts, metadata)
    assert entry.name == f"deseq2-{info['key']}.parquet"


def _fit_into(cache_dir: str, counts: pd.DataFrame, metadata: pd.DataFrame) -> pd.DataFrame:
    return cached_deseq2(counts, metadata, cache_dir=cache_dir)[0]


def test_concurrent_jobs_share_one_valid_entry(tiny_nb, tmp_path):
    """Multirun jobs fitting the same data at once: each gets the full table, the entry stays valid."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    counts, metadata, _ = tiny_nb
    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("spawn")) as pool:
        tables = list(pool.map(_fit_into, [str(tmp_path)] * 4, [counts] * 4, [metadata] * 4))
    for table in tables[1:]:
        pd.testing.assert_frame_equal(table, tables[0], check_exact=True)
    assert len(entries(tmp_path)) == 1 and entries(tmp_path)[0].endswith(".parquet")  # no torn or temp files
    cached, hit = cached_deseq2(counts, metadata, cache_dir=tmp_path)
    assert hit
    pd.testing.assert_frame_equal(cached, tables[0], check_exact=True)
