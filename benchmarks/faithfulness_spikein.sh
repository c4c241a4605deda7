#!/usr/bin/env bash
# Deletion-curve faithfulness of the transformer's attributions (AttnLRP vs CLS attention vs IG ...)
# on the GEUVADIS spike-in, one run per spike-in seed; prints one table from the runs' comparison.csv.
#   bash benchmarks/faithfulness_spikein.sh [seeds...]     (default: 0 1 2)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-logs/faithfulness_spikein}
seeds=("$@"); [ ${#seeds[@]} -gt 0 ] || seeds=(0 1 2)
for seed in "${seeds[@]}"; do
    run="$OUT/transformer_seed$seed"
    [ -f "$run/evaluation/comparison.csv" ] && continue  # resume: a finished run is kept
    "$PY" train.py data=spikein_geuvadis data.adata.seed="$seed" model=transformer \
      model.backbone.d_model=64 model.backbone.n_layers=2 data.batch_size=16 trainer.max_epochs=15 \
      data.n_genes=300 de.genes=expressed de.inference=torch evaluate=true logger=none \
      '~callbacks.rich_progress_bar' trainer.enable_progress_bar=false \
      'attribution.methods=[{name: attention}, {name: attention_rollout}, {name: grad_attention}, {name: integrated_gradients, n_steps: 16}, {name: saliency}, {name: attnlrp}]' \
      hydra.run.dir="$run"
done
"$PY" - "$OUT" <<'PY'
import sys
from pathlib import Path
import json
import pandas as pd
rows = []
for run in sorted(Path(sys.argv[1]).glob("transformer_seed*")):
    table = pd.read_csv(run / "evaluation" / "comparison.csv")
    truth = table[(table["reference"] == "truth") & table["faithfulness_auroc"].notna()]
    auroc = json.loads((run / "metrics.json").read_text())["test/auroc"]
    for _, r in truth.iterrows():
        rows.append({"run": run.name, "test_auroc": auroc, "method": r["method"], "auprc_vs_truth": r["auprc"],
                     "chance": r["chance_auprc"], "faith_auroc": r["faithfulness_auroc"], "faith_auroc_p": r["faithfulness_auroc_pvalue"],
                     "faith_logloss": r["faithfulness_logloss"], "faith_logloss_p": r["faithfulness_logloss_pvalue"]})
out = pd.DataFrame(rows)
out.to_csv(Path(sys.argv[1]) / "faithfulness_spikein.csv", index=False)
print(out.round(3).to_string(index=False) if len(out) else "no runs")
PY
