"""The clinical encoder: raw tabular values -> the clinical vector that both fusions consume.

Input is a float tensor ``[N, F]``, one column per feature of the cohort's schema
(:class:`mdfnet.feature_schema.CohortSchema`; default :data:`~mdfnet.feature_schema.MIMIC_SCHEMA`, whose
``F = 10`` columns are :data:`mdfnet.schema.CLINICAL_FEATURES` with gender coded 0 = F, 1 = M): numbers
raw with NaN for a missing value, categories as codes. The encoder keeps the configured subset of
features and returns ``[N, dim]``:

    [ standardised numeric (n) | missing indicators (n, optional) | one embedding per categorical | zero padding ]

- Numeric features are standardised with mean/std fitted on the train split only
  (:func:`fit_statistics`), stored as buffers so they travel with the checkpoint.
- A missing numeric value becomes 0 after standardisation, i.e. the train mean. With
  ``missing_indicators=True`` (ours) a 0/1 column per numeric feature tells the network so explicitly;
  the paper preset leaves them out to keep the authors' exact 64-d layout (9 numbers + 55-d gender
  embedding) and parameter count.
- Categorical features share the rest of the width (the first ones get one more when it does not divide).
  A feature with an "unseen" slot embeds missing and unseen values with that slot's row; one without
  (MIMIC's gender) gets the mean of its rows for a missing value. Without a categorical feature in the
  subset, the remaining width is zero-padded, so ``dim`` never changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from mdfnet.errors import InputError
from mdfnet.feature_schema import MIMIC_SCHEMA, CohortSchema, Feature
from mdfnet.schema import NUMERIC_FEATURES


class ClinicalEncoder(nn.Module):
    """``[N, F]`` raw clinical values (NaN = missing) -> ``[N, dim]`` clinical vector.

    Args:
        features: the subset of the schema's features to use (None = all); kept in schema order.
        dim: width of the output vector.
        missing_indicators: add a 0/1 column per numeric feature saying it was missing.
        schema: the cohort's schema (default: MIMIC's).
    """

    def __init__(self, features: tuple[str, ...] | None = None, dim: int = 64, missing_indicators: bool = False,
                 schema: CohortSchema | None = None) -> None:
        super().__init__()
        self.schema = schema or MIMIC_SCHEMA
        names = self.schema.names
        features = names if features is None else tuple(features)
        unknown = [f for f in features if f not in names]
        if unknown or not features:
            got = f"unknown {unknown}" if unknown else "an empty subset"
            raise InputError(f"clinical features must be a non-empty subset of {names}, got {got}")
        self.features = tuple(f for f in names if f in features)  # canonical order
        numeric = [i for i, f in enumerate(self.schema.numeric) if f in self.features]
        self.register_buffer("numeric_index", torch.tensor(numeric, dtype=torch.long), persistent=False)
        self.categorical_columns = [i for i, f in enumerate(self.schema.features)
                                    if f.kind == "categorical" and f.name in self.features]
        self.missing_indicators = missing_indicators
        self.dim = dim
        used = len(numeric) * (2 if missing_indicators else 1)
        free, n_embed = dim - used, len(self.categorical_columns)
        if free < n_embed:
            names = [f.name for f in self._categorical_features()]
            raise InputError(f"clinical dim {dim} is too small for {used} numeric columns"
                             + (" and a gender embedding" if names == ["gender"] else
                                f" and {n_embed} categorical embeddings" if n_embed else ""))
        widths = [free // n_embed + (k < free % n_embed) for k in range(n_embed)] if n_embed else []
        self.embeddings = nn.ModuleList(
            nn.Embedding(len(f.categories) + int(f.unseen_slot), w)
            for f, w in zip(self._categorical_features(), widths))
        self.register_buffer("mean", torch.zeros(len(self.schema.numeric)))
        self.register_buffer("std", torch.ones(len(self.schema.numeric)))

    @property
    def gender(self) -> nn.Embedding | None:
        """MIMIC's gender embedding (``Embedding(2, 55)`` in the paper preset), None without one."""
        features = self._categorical_features()
        names = [f.name for f in features]
        return self.embeddings[names.index("gender")] if "gender" in names else None

    def set_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Set the standardisation statistics of the schema's numeric features (fitted on train)."""
        self.mean.copy_(torch.as_tensor(mean, dtype=self.mean.dtype))
        self.std.copy_(torch.as_tensor(std, dtype=self.std.dtype).clamp_min(1e-6))

    def forward(self, clinical: torch.Tensor) -> torch.Tensor:
        if clinical.dim() != 2 or clinical.shape[1] != self.schema.width:
            raise InputError(f"clinical batch must be [N, {self.schema.width}] in the order "
                             f"{self.schema.names}, got shape {list(clinical.shape)}")
        numeric_all = (clinical[:, : len(self.schema.numeric)] - self.mean) / self.std
        numeric = numeric_all[:, self.numeric_index]
        missing = torch.isnan(numeric)
        parts = [numeric.masked_fill(missing, 0.0)]
        if self.missing_indicators:
            parts.append(missing.to(numeric.dtype))
        for column, feature, embedding in zip(self.categorical_columns, self._categorical_features(), self.embeddings):
            parts.append(_embed(clinical[:, column], feature, embedding))
        out = torch.cat(parts, dim=1)
        return nn.functional.pad(out, (0, self.dim - out.shape[1]))

    def _categorical_features(self) -> list[Feature]:
        return [self.schema.features[i] for i in self.categorical_columns]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints written before schemas existed name MIMIC's gender embedding "gender.weight"
        old = prefix + "gender.weight"
        if old in state_dict and self.gender is not None:
            index = [f.name for f in self._categorical_features()].index("gender")
            state_dict[f"{prefix}embeddings.{index}.weight"] = state_dict.pop(old)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def _embed(codes: torch.Tensor, feature: Feature, embedding: nn.Embedding) -> torch.Tensor:
    """Codes ``[N]`` (NaN = missing) -> ``[N, width]``; missing/unseen as the module docstring says."""
    known = len(feature.categories)
    if feature.unseen_slot:
        return embedding(codes.nan_to_num(float(known)).round().clamp(0, known).long())
    missing = torch.isnan(codes)
    embedded = embedding(codes.nan_to_num(0.0).round().clamp(0, known - 1).long())
    return torch.where(missing[:, None], embedding.weight.mean(0, keepdim=True), embedded)


# the clinical path's module names
CLINICAL_MODULES = ("clinical_encoder", "clinical_branch", "film", "clinical_prior")


def is_clinical_parameter(name: str) -> bool:
    """Whether a parameter (by its name in the model) belongs to the clinical path: the encoder's embeddings,
    the 3D branch (spatialiser and its backbone), FiLM in the box head or a one-stage head, and the class-logit
    offsets of ``model.clinical_prior``. The paper's concat 1D fusion has no module of its own (the vector's
    weights are 64 columns of the box head's ``fc6``)."""
    return any(part in CLINICAL_MODULES for part in name.split("."))


@contextlib.contextmanager
def own_random_stream() -> Iterator[None]:
    """Initialise the modules built inside from a stream of their own, leaving the global RNG where it was.

    Every clinical module is built inside it, so a fused model's image path is initialised weight for weight
    as the image-only model of the same seed: with the fusions starting at their identity, MDF-Net and its
    baseline start as the same detector, and a paired comparison measures what the clinical values changed.
    The stream is derived from the seed (``torch.initial_seed()``), so the clinical init is reproducible too.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed((torch.initial_seed() + 0x9E3779B9) % 2**63)
        yield


def fit_statistics(clinical: torch.Tensor,
                   num_numeric: int = len(NUMERIC_FEATURES)) -> tuple[torch.Tensor, torch.Tensor]:
    """NaN-aware mean and std of the ``num_numeric`` leading (numeric) columns of a train split ``[N, F]``.

    MIMIC: ``[N, 10]`` -> ``[9], [9]``. A feature missing in every row gets mean 0 and std 1 (it then
    encodes as 0, i.e. "unknown").
    """
    numeric = clinical[:, :num_numeric].double()
    present = ~torch.isnan(numeric)
    count = present.sum(0)
    mean = torch.where(present, numeric, 0.0).sum(0) / count.clamp_min(1)
    var = torch.where(present, (numeric - mean) ** 2, 0.0).sum(0) / (count - 1).clamp_min(1)
    std = var.sqrt()
    std = torch.where((count > 1) & (std > 0), std, torch.ones_like(std))
    mean = torch.where(count > 0, mean, torch.zeros_like(mean))
    return mean.float(), std.float()


def fit_medians(clinical: torch.Tensor, num_numeric: int = len(NUMERIC_FEATURES)) -> torch.Tensor:
    """NaN-aware median of the ``num_numeric`` leading (numeric) columns of a train split ``[N, F]``
    (MIMIC: ``[N, 10]`` -> ``[9]``).

    The middle value, or the mean of the two middle values for an even count; NaN for a feature missing in
    every row. Explanations use it as the "typical value" a typed-in value is compared with.
    """
    numeric = clinical[:, :num_numeric].double()
    medians = []
    for column in numeric.T:
        present = column[~torch.isnan(column)].sort().values
        n = len(present)
        medians.append(float("nan") if n == 0 else float(present[(n - 1) // 2] + present[n // 2]) / 2)
    return torch.tensor(medians, dtype=torch.float32)
