"""Clinical features against abnormalities (the paper's Fig. 5b), from the cohort alone (no training).

For each of the ten clinical features (gender coded 0 = F, 1 = M) and each class, the Pearson
correlation between the feature and the class's presence (1 when the reading has at least one box of
it), over all readings of the cohort. Missing values are left out pairwise; a constant column (e.g. a
class absent from the cohort) gives NaN. A cohort with another schema gives its own features and
classes: a categorical feature with two categories is one row (coded 0, 1 in category order), one with
more is one 0/1 row per category (``name=value``); unseen values count as missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mdfnet.data.cohort import load_cohort, load_schema
from mdfnet.data.dataset import clinical_tensor
from mdfnet.experiments.figures import plot_heatmap
from mdfnet.feature_schema import MIMIC_SCHEMA, CohortSchema


def presence(cohort: pd.DataFrame, schema: CohortSchema | None = None) -> pd.DataFrame:
    """0/1 ``[readings, classes]``: does the reading have at least one box of the class (from the counts)."""
    schema = schema or MIMIC_SCHEMA
    counts = cohort[list(schema.count_columns)].to_numpy()
    return pd.DataFrame((counts > 0).astype(float), columns=list(schema.classes), index=cohort.index)


def feature_columns(cohort: pd.DataFrame, schema: CohortSchema | None = None) -> pd.DataFrame:
    """The schema's features as numbers, one column per correlation row (see the module docstring)."""
    schema = schema or MIMIC_SCHEMA
    coded = clinical_tensor(cohort, schema).numpy().astype(np.float64)
    columns = {}
    for i, feature in enumerate(schema.features):
        values = coded[:, i]
        known = values < len(feature.categories)  # NaN (missing) and the unseen slot are not
        if feature.kind == "numeric":
            columns[feature.name] = values
            continue
        if len(feature.categories) <= 2:
            columns[feature.name] = np.where(known, values, np.nan)
            continue
        for k, category in enumerate(feature.categories):
            columns[f"{feature.name}={category}"] = np.where(known, (values == k).astype(float), np.nan)
    return pd.DataFrame(columns, index=cohort.index)


def clinical_correlation(cohort: pd.DataFrame, schema: CohortSchema | None = None) -> pd.DataFrame:
    """Pearson r, ``[features (rows), classes (columns)]``, of a cohort frame (``cohort.csv``); MIMIC: 10 x 5."""
    schema = schema or MIMIC_SCHEMA
    features = feature_columns(cohort, schema)
    present = presence(cohort, schema)
    matrix = pd.DataFrame(index=list(features.columns), columns=list(schema.classes), dtype=float)
    for feature in features.columns:
        for name in schema.classes:
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
    matrix = clinical_correlation(cohort, load_schema(cohort_dir))
    matrix.to_csv(out / "correlation.csv")
    (out / "correlation.md").write_text(correlation_markdown(matrix, len(cohort)))
    plot_heatmap(matrix, out / "correlation.png", title=f"Pearson r: clinical feature vs class presence "
                                                        f"({len(cohort)} readings)")
    return matrix
