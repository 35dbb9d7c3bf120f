"""Clinical features against abnormalities (the paper's Fig. 5b), from the cohort alone (no training).

For each of the ten clinical features (gender coded 0 = F, 1 = M) and each class, the Pearson
correlation between the feature and the class's presence (1 when the reading has at least one box of
it), over all readings of the cohort. Missing values are left out pairwise; a constant column (e.g. a
class absent from the cohort) gives NaN.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mdfnet.data.cohort import load_cohort
from mdfnet.data.dataset import clinical_tensor
from mdfnet.experiments.figures import plot_heatmap
from mdfnet.schema import BOX_COUNT_COLUMNS, CLASSES, CLINICAL_FEATURES


def presence(cohort: pd.DataFrame) -> pd.DataFrame:
    """0/1 ``[readings, classes]``: does the reading have at least one box of the class (from the counts)."""
    counts = cohort[list(BOX_COUNT_COLUMNS)].to_numpy()
    return pd.DataFrame((counts > 0).astype(float), columns=list(CLASSES), index=cohort.index)


def clinical_correlation(cohort: pd.DataFrame) -> pd.DataFrame:
    """Pearson r, ``[10 features (rows), 5 classes (columns)]``, of a cohort frame (``cohort.csv``)."""
    features = pd.DataFrame(clinical_tensor(cohort).numpy().astype(np.float64), columns=list(CLINICAL_FEATURES),
                            index=cohort.index)
    present = presence(cohort)
    matrix = pd.DataFrame(index=list(CLINICAL_FEATURES), columns=list(CLASSES), dtype=float)
    for feature in CLINICAL_FEATURES:
        for name in CLASSES:
            matrix.loc[feature, name] = features[feature].corr(present[name], method="pearson")
    matrix.index.name = "feature"
    return matrix


def correlation_markdown(matrix: pd.DataFrame, n_readings: int) -> str:
    header = ["feature", *matrix.columns]
    lines = [f"## Clinical features vs abnormality presence (Pearson r, {n_readings} readings)", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for feature, row in matrix.iterrows():
        lines.append("| " + " | ".join([feature, *("n/a" if np.isnan(v) else f"{v:+.3f}" for v in row)]) + " |")
    return "\n".join(lines) + "\n"


def run_correlation(cohort_dir: str | Path, out: str | Path) -> pd.DataFrame:
    """Write ``correlation.csv``, ``correlation.md`` and ``correlation.png`` into ``out``; return the matrix."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cohort, _ = load_cohort(cohort_dir)
    matrix = clinical_correlation(cohort)
    matrix.to_csv(out / "correlation.csv")
    (out / "correlation.md").write_text(correlation_markdown(matrix, len(cohort)))
    plot_heatmap(matrix, out / "correlation.png", title=f"Pearson r: clinical feature vs class presence "
                                                        f"({len(cohort)} readings)")
    return matrix
