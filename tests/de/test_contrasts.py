"""``DEMethod.test_contrasts``: every level against the reference from one fit, and the omnibus test.

The data have three groups (A = reference, B, C) with genes planted up in B only and down
in C only, so each contrast must find its own genes and the omnibus both sets. With two
groups every method must return exactly what ``test`` returns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kruskal

from genexai.de.dispatch import build_de_method
from genexai.de.inputs import contrast_levels, reduced_design
from genexai.errors import ConfigError
from tests.conftest import require_r_engines

B_ONLY = slice(0, 20)
C_ONLY = slice(20, 40)
METHODS = {
    "deseq2": {"name": "deseq2", "inference": "torch"},
    "wilcoxon": {"name": "wilcoxon"},
    "edger": {"name": "edger"},
    "limma_voom": {"name": "limma_voom"},
}
R_METHODS = ("edger", "limma_voom")


def simulate_groups(n_per_group: int = 8, n_genes: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """NB counts (gamma-Poisson) of groups A, B, C: genes 0-19 4x up in B, 20-39 4x down in C, the last all zero."""
    rng = np.random.default_rng(seed)
    mu = np.exp(rng.normal(5.0, 1.2, n_genes))
    dispersion = 0.1 + 1.0 / mu
    log2fc = np.zeros((3, n_genes))
    log2fc[1, B_ONLY] = 2.0
    log2fc[2, C_ONLY] = -2.0
    group = np.repeat(np.arange(3), n_per_group)
    mean = np.exp(rng.normal(0.0, 0.2, len(group)))[:, None] * mu * 2.0 ** log2fc[group]
    counts = rng.poisson(rng.gamma(1.0 / dispersion, mean * dispersion))
    counts[:, -1] = 0
    samples = [f"s{i:02d}" for i in range(len(group))]
    frame = pd.DataFrame(counts, index=samples, columns=[f"g{j:03d}" for j in range(n_genes)])
    return frame, pd.DataFrame({"condition": np.array(["A", "B", "C"])[group]}, index=samples)


@pytest.fixture(scope="module")
def three_groups() -> tuple[pd.DataFrame, pd.DataFrame]:
    return simulate_groups()


def _method(name: str, **overrides):
    if name in R_METHODS:
        require_r_engines()
    return build_de_method({**METHODS[name], **overrides})


@pytest.mark.parametrize("name", list(METHODS))
def test_two_levels_contrast_is_the_two_group_test(name: str, three_groups) -> None:
    counts, metadata = three_groups
    keep = metadata["condition"] != "C"
    counts, metadata = counts[keep], metadata[keep]
    method = _method(name)
    tables, hit = method.test_contrasts(counts, metadata, design="~condition", ref_level="A")
    two_group, _ = method.test(counts, metadata, design="~condition", ref_level="A")
    assert list(tables) == ["B", "omnibus"] and not hit
    pd.testing.assert_frame_equal(tables["B"], two_group, check_exact=True)
    omnibus = tables["omnibus"]
    assert omnibus.index.equals(counts.columns) and list(omnibus.columns) == list(two_group.columns)
    assert omnibus[["log2FoldChange", "lfcSE"]].isna().all().all()
    if name in R_METHODS:  # an F-test of one coefficient is the two-sided t / QL test itself
        np.testing.assert_allclose(omnibus["pvalue"], two_group["pvalue"], rtol=1e-10, equal_nan=True)


@pytest.mark.parametrize("name", list(METHODS))
def test_each_contrast_finds_its_own_genes_and_the_omnibus_both(name: str, three_groups) -> None:
    counts, metadata = three_groups
    tables, _ = _method(name).test_contrasts(counts, metadata, design="~condition", ref_level="A")
    assert list(tables) == ["B", "C", "omnibus"]
    hits = {key: table["padj"].to_numpy() < 0.05 for key, table in tables.items()}
    assert hits["B"][B_ONLY].mean() >= 0.9 and hits["C"][B_ONLY].mean() <= 0.1
    assert hits["C"][C_ONLY].mean() >= 0.9 and hits["B"][C_ONLY].mean() <= 0.1
    assert hits["omnibus"][B_ONLY].mean() >= 0.9 and hits["omnibus"][C_ONLY].mean() >= 0.9
    assert hits["omnibus"][40:].mean() <= 0.05
    assert tables["omnibus"].iloc[-1].drop("baseMean").isna().all()  # the all-zero gene
    for table in tables.values():
        assert table.index.equals(counts.columns)


# Not limma-voom: its moderated F uses one coefficient correlation matrix for all genes
# (``cov.coefficients``), while voom's weights make it gene-specific, so its F moves a few %
# with the parametrisation; it is not a likelihood-ratio or exact F-test.
@pytest.mark.parametrize("name", ["deseq2", "wilcoxon", "edger"])
def test_omnibus_does_not_depend_on_the_reference(name: str, three_groups) -> None:
    """The across-level test is one hypothesis, whatever level the others are compared with."""
    counts, metadata = three_groups
    method = _method(name)
    by_a, _ = method.test_contrasts(counts, metadata, design="~condition", ref_level="A")
    by_b, _ = method.test_contrasts(counts, metadata, design="~condition", ref_level="B")
    assert list(by_b) == ["A", "C", "omnibus"]
    # DESeq2 refits its GLM in a new parametrisation: same optimum, up to the solver's tolerance.
    rtol = 1e-3 if name == "deseq2" else 1e-8
    for column in ("stat", "pvalue"):
        np.testing.assert_allclose(by_b["omnibus"][column], by_a["omnibus"][column], rtol=rtol, equal_nan=True)
    np.testing.assert_allclose(by_b["C"]["log2FoldChange"] - by_b["A"]["log2FoldChange"],
                               by_a["C"]["log2FoldChange"], rtol=1e-3, atol=1e-6, equal_nan=True)  # fmt: skip


def test_deseq2_contrast_is_the_explicit_contrast_fit(three_groups) -> None:
    from genexai.de.deseq2 import run_deseq2

    counts, metadata = three_groups
    tables, _ = _method("deseq2").test_contrasts(counts, metadata, design="~condition", ref_level="A")
    for level in ("B", "C"):
        direct = run_deseq2(counts, metadata, inference="torch", contrast=["condition", level, "A"])
        np.testing.assert_allclose(tables[level].to_numpy(), direct.to_numpy(), rtol=1e-8, atol=0, equal_nan=True)


def test_kruskal_wallis_is_scipys(three_groups) -> None:
    from genexai.data.preprocess import median_of_ratios_log_geomeans, size_factors

    counts, metadata = three_groups
    omnibus = _method("wilcoxon").test_contrasts(counts, metadata, design="~condition", ref_level="A")[0]["omnibus"]
    values = counts.to_numpy(dtype=float)
    normalised = values / size_factors(values, median_of_ratios_log_geomeans(values))[:, None]
    labels = metadata["condition"].to_numpy()
    for j in (0, 25, 150, 298):
        h, p = kruskal(*(normalised[labels == level, j] for level in "ABC"))
        assert omnibus["stat"].iloc[j] == pytest.approx(h, rel=1e-12)
        assert omnibus["pvalue"].iloc[j] == pytest.approx(p, rel=1e-12)


@pytest.mark.parametrize(("pipeline", "tolerance"), [("r", 1e-6), ("pydeseq2", 1e-3)])
def test_deseq2_lrt_agrees_with_r(three_groups, pipeline: str, tolerance: float) -> None:
    """Our Wald tests and LRT against R's ``DESeq(test="LRT")``, on data with two Cook's outliers replaced.

    R's steps (the default pipeline) give R's numbers; PyDESeq2's steps come within 1e-3.
    """
    require_r_engines()
    counts, metadata = three_groups
    counts = counts.copy()
    counts.iloc[3, 100] = counts.iloc[:, 100].max() * 30  # a null gene with one outlier (refitted)
    ours, r = (
        _method("deseq2", **options).test_contrasts(counts, metadata, design="~condition", ref_level="A")[0]
        for options in ({"inference": "default", "pipeline": pipeline}, {"inference": "r"})
    )
    for key in ("B", "C", "omnibus"):
        for column in ("stat", "pvalue", "padj"):
            got, want = ours[key][column].to_numpy(), r[key][column].to_numpy()
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{key} {column}: NaN pattern")
            relative = np.abs(got - want) / np.abs(want)
            assert np.nanmedian(relative) < tolerance, f"{key} {column}"
    assert r["omnibus"][["log2FoldChange", "lfcSE"]].isna().all().all()


@pytest.mark.parametrize("name", ["deseq2", "edger"])
def test_contrasts_are_cached_apart_from_the_two_group_test(name: str, three_groups, tmp_path: Path) -> None:
    counts, metadata = three_groups
    method = _method(name, cache_dir=str(tmp_path))
    first, hit_first = method.test_contrasts(counts, metadata, design="~condition", ref_level="A")
    second, hit_second = method.test_contrasts(counts, metadata, design="~condition", ref_level="A")
    assert (hit_first, hit_second) == (False, True)
    assert list(second) == list(first)
    for key in first:
        pd.testing.assert_frame_equal(second[key], first[key], check_exact=True)
    keep = metadata["condition"] != "C"
    _, hit_two = method.test(counts[keep], metadata[keep], design="~condition", ref_level="A")
    _, hit_k2 = method.test_contrasts(counts[keep], metadata[keep], design="~condition", ref_level="A")
    assert not hit_two and not hit_k2
    assert len(list(tmp_path.glob(f"{name}-*.parquet"))) == 3


def test_a_level_with_one_sample_is_a_one_line_error(three_groups) -> None:
    counts, metadata = three_groups
    metadata = metadata.copy()
    metadata.iloc[0, 0] = "D"
    with pytest.raises(ConfigError, match="level 'D' of 'condition' has 1 sample") as err:
        _method("wilcoxon").test_contrasts(counts, metadata, design="~condition", ref_level="A")
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="level 'D' of 'condition'"):
        _method("deseq2").test_contrasts(counts, metadata, design="~condition", ref_level="A")


def test_levels_follow_the_categories_and_a_missing_reference_is_named(three_groups) -> None:
    _, metadata = three_groups
    categorical = metadata.assign(condition=pd.Categorical(metadata["condition"], categories=["C", "A", "B", "Z"]))
    assert contrast_levels(categorical, "~condition", "A") == ("condition", "A", ["C", "B"])
    assert contrast_levels(metadata, "~condition", None) == ("condition", "A", ["B", "C"])
    with pytest.raises(ConfigError, match="reference level 'X' does not occur"):
        contrast_levels(metadata, "~condition", "X")


def test_reduced_design_drops_the_tested_variable() -> None:
    assert reduced_design("~condition", "condition") == "~1"
    assert reduced_design("~batch + condition", "condition") == "~batch"
    assert reduced_design("~batch + condition + batch:condition", "condition") == "~batch"
