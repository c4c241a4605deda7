"""DE methods as objects built from configs/de/*.yaml: registry, name override, same tables as run_de."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from genexai.de import DE_METHODS, DESeq2Method, WilcoxonMethod, build_de_method, cached_deseq2, de_hits, run_de
from genexai.de.dispatch import REGISTRY
from genexai.de.select import select_de_genes
from genexai.errors import ConfigError
from genexai.evaluation import metrics
from genexai.significance import calls as compare


def deseq2_yaml(cache_dir) -> OmegaConf:
    """configs/de/deseq2.yaml with its ``${paths.cache_dir}`` resolvable, as inside train.yaml."""
    return OmegaConf.merge({"paths": {"cache_dir": str(cache_dir)}}, OmegaConf.load("configs/de/deseq2.yaml"))


def test_registry_names_the_yaml_methods():
    from genexai.data.datamodule import DE_SELECTIONS
    from genexai.de.r.methods import EdgeRMethod, LimmaVoomMethod

    assert DE_METHODS == ("deseq2", "wilcoxon", "edger", "limma_voom")
    assert REGISTRY == {"deseq2": DESeq2Method, "wilcoxon": WilcoxonMethod, "edger": EdgeRMethod,
                        "limma_voom": LimmaVoomMethod}
    assert set(DE_SELECTIONS) == set(DE_METHODS)  # data.gene_selection offers every DE method
    assert sorted(p.stem for p in Path("configs/de").glob("*.yaml")) == sorted(DE_METHODS)
    for name in DE_METHODS:
        assert OmegaConf.load(f"configs/de/{name}.yaml").name == name
    with pytest.raises(ConfigError, match="unknown DE method 'edgeR'"):
        build_de_method({"name": "edgeR"})


def test_build_from_yaml_and_name_override(tmp_path):
    cfg = deseq2_yaml(tmp_path)
    method = build_de_method(cfg)
    assert isinstance(method, DESeq2Method)
    assert (method.alpha, method.lfc_shrink, method.n_cpus, method.inference, method.device, method.design) == (
        0.05, False, 1, "default", "cpu", None,
    )  # fmt: skip
    assert method.cache_dir == f"{tmp_path}/deseq2"
    # data.gene_selection=wilcoxon reuses the ${de} options with another test.
    other = build_de_method(cfg, name="wilcoxon", alpha=0.1)
    assert isinstance(other, WilcoxonMethod)
    assert (other.cache_dir, other.inference, other.alpha) == (method.cache_dir, "default", 0.1)
    wilcoxon = build_de_method(OmegaConf.load("configs/de/wilcoxon.yaml"))
    assert isinstance(wilcoxon, WilcoxonMethod) and wilcoxon.pseudocount == 1.0


def test_same_tables_as_the_old_path(tiny_nb, tmp_path):
    counts, metadata, _ = tiny_nb
    method = build_de_method(deseq2_yaml(tmp_path))
    table, hit = method.test(counts, metadata, design="~condition", ref_level="A")
    direct, direct_hit = cached_deseq2(counts, metadata, cache_dir=method.cache_dir, design="~condition", ref_level="A")
    assert (hit, direct_hit) == (False, True)
    pd.testing.assert_frame_equal(table, direct, check_exact=True)
    old, old_hit = run_de("deseq2", counts, metadata, ref_level="A", cache_dir=method.cache_dir)
    assert old_hit is True
    pd.testing.assert_frame_equal(old, direct, check_exact=True)
    wilcoxon, hit = build_de_method({}, "wilcoxon").test(counts, metadata, design="~condition", ref_level="A")
    pd.testing.assert_frame_equal(wilcoxon, run_de("wilcoxon", counts, metadata, ref_level="A")[0], check_exact=True)
    assert hit is False


def test_configured_design_wins_over_the_datasets(tiny_nb):
    counts, metadata, _ = tiny_nb
    ours = WilcoxonMethod(design="~condition").test(counts, metadata, design="~batch + condition", ref_level="A")[0]
    pd.testing.assert_frame_equal(ours, run_de("wilcoxon", counts, metadata, ref_level="A")[0], check_exact=True)


def test_run_de_rejects_unknown_options(tiny_nb):
    counts, metadata, _ = tiny_nb
    with pytest.raises(TypeError):
        run_de("wilcoxon", counts, metadata, pseudo_count=2.0)


def test_one_hit_rule_everywhere():
    de = pd.DataFrame(
        {"padj": [0.01, float("nan"), 0.01, 0.2, 0.04], "log2FoldChange": [2.0, 3.0, float("nan"), 2.0, 0.5]},
        index=list("abcde"),
    )
    assert de_hits(de, 0.05).tolist() == [True, False, False, False, True]
    assert de_hits(de, 0.05, lfc_threshold=1.0).tolist() == [True, False, False, False, False]
    # padj alone (the FDR comparison): a NaN fold change does not matter, a NaN padj is no hit.
    assert de_hits(de[["padj"]], 0.05, lfc_threshold=None).tolist() == [True, False, True, False, True]
    assert metrics.de_hits is de_hits and compare.de_hits is de_hits
    ranked = select_de_genes(de.assign(pvalue=de["padj"]), n_genes="all", mode="threshold", alpha=0.05)
    assert ranked == ["a", "e"]
