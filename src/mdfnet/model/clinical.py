"""The clinical encoder: raw tabular values -> the clinical vector that both fusions consume.

Input is a float tensor ``[N, 10]`` in :data:`mdfnet.schema.CLINICAL_FEATURES` order with NaN for a
missing value and gender coded 0 = F, 1 = M. The encoder keeps the configured subset of features and
returns ``[N, dim]``:

    [ standardised numeric (n) | missing indicators (n, optional) | gender embedding | zero padding ]

- Numeric features are standardised with mean/std fitted on the train split only
  (:func:`fit_statistics`), stored as buffers so they travel with the checkpoint.
- A missing numeric value becomes 0 after standardisation, i.e. the train mean. With
  ``missing_indicators=True`` (ours) a 0/1 column per numeric feature tells the network so explicitly;
  the paper preset leaves them out to keep the authors' exact 64-d layout (9 numbers + 55-d gender
  embedding) and parameter count.
- Gender is embedded to fill the rest of the width; a missing gender gets the mean of the two rows.
  Without gender in the subset, the remaining width is zero-padded, so ``dim`` never changes.
"""

from __future__ import annotations

import torch
from torch import nn

from mdfnet.errors import InputError
from mdfnet.schema import CLINICAL_FEATURES, NUMERIC_FEATURES


class ClinicalEncoder(nn.Module):
    """``[N, 10]`` raw clinical values (NaN = missing) -> ``[N, dim]`` clinical vector."""

    def __init__(self, features: tuple[str, ...] = CLINICAL_FEATURES, dim: int = 64,
                 missing_indicators: bool = False) -> None:
        super().__init__()
        unknown = [f for f in features if f not in CLINICAL_FEATURES]
        if unknown or not features:
            got = f"unknown {unknown}" if unknown else "an empty subset"
            raise InputError(f"clinical features must be a non-empty subset of {CLINICAL_FEATURES}, got {got}")
        self.features = tuple(f for f in CLINICAL_FEATURES if f in features)  # canonical order
        numeric = [NUMERIC_FEATURES.index(f) for f in self.features if f in NUMERIC_FEATURES]
        self.register_buffer("numeric_index", torch.tensor(numeric, dtype=torch.long), persistent=False)
        self.missing_indicators = missing_indicators
        self.use_gender = "gender" in self.features
        self.dim = dim
        used = len(numeric) * (2 if missing_indicators else 1)
        self.gender_dim = dim - used
        if self.gender_dim < (1 if self.use_gender else 0):
            raise InputError(f"clinical dim {dim} is too small for {used} numeric columns"
                             + (" and a gender embedding" if self.use_gender else ""))
        self.gender = nn.Embedding(2, self.gender_dim) if self.use_gender else None
        self.register_buffer("mean", torch.zeros(len(NUMERIC_FEATURES)))
        self.register_buffer("std", torch.ones(len(NUMERIC_FEATURES)))

    def set_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Set the standardisation statistics of the nine numeric features (fitted on train)."""
        self.mean.copy_(torch.as_tensor(mean, dtype=self.mean.dtype))
        self.std.copy_(torch.as_tensor(std, dtype=self.std.dtype).clamp_min(1e-6))

    def forward(self, clinical: torch.Tensor) -> torch.Tensor:
        if clinical.dim() != 2 or clinical.shape[1] != len(CLINICAL_FEATURES):
            raise InputError(f"clinical batch must be [N, {len(CLINICAL_FEATURES)}] in the order "
                             f"{CLINICAL_FEATURES}, got shape {list(clinical.shape)}")
        numeric_all = (clinical[:, : len(NUMERIC_FEATURES)] - self.mean) / self.std
        numeric = numeric_all[:, self.numeric_index]
        missing = torch.isnan(numeric)
        parts = [numeric.masked_fill(missing, 0.0)]
        if self.missing_indicators:
            parts.append(missing.to(numeric.dtype))
        if self.use_gender:
            parts.append(self._embed_gender(clinical[:, -1]))
        out = torch.cat(parts, dim=1)
        return nn.functional.pad(out, (0, self.dim - out.shape[1]))

    def _embed_gender(self, gender: torch.Tensor) -> torch.Tensor:
        missing = torch.isnan(gender)
        codes = gender.nan_to_num(0.0).round().clamp(0, 1).long()
        embedded = self.gender(codes)
        return torch.where(missing[:, None], self.gender.weight.mean(0, keepdim=True), embedded)


def fit_statistics(clinical: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """NaN-aware mean and std of the nine numeric features of a train split ``[N, 10]`` -> ``[9], [9]``.

    A feature missing in every row gets mean 0 and std 1 (it then encodes as 0, i.e. "unknown").
    """
    numeric = clinical[:, : len(NUMERIC_FEATURES)].double()
    present = ~torch.isnan(numeric)
    count = present.sum(0)
    mean = torch.where(present, numeric, 0.0).sum(0) / count.clamp_min(1)
    var = torch.where(present, (numeric - mean) ** 2, 0.0).sum(0) / (count - 1).clamp_min(1)
    std = var.sqrt()
    std = torch.where((count > 1) & (std > 0), std, torch.ones_like(std))
    mean = torch.where(count > 0, mean, torch.zeros_like(mean))
    return mean.float(), std.float()


def fit_medians(clinical: torch.Tensor) -> torch.Tensor:
    """NaN-aware median of the nine numeric features of a train split ``[N, 10]`` -> ``[9]``.

    The middle value, or the mean of the two middle values for an even count; NaN for a feature missing in
    every row. Explanations use it as the "typical value" a typed-in value is compared with.
    """
    numeric = clinical[:, : len(NUMERIC_FEATURES)].double()
    medians = []
    for column in numeric.T:
        present = column[~torch.isnan(column)].sort().values
        n = len(present)
        medians.append(float("nan") if n == 0 else float(present[(n - 1) // 2] + present[n // 2]) / 2)
    return torch.tensor(medians, dtype=torch.float32)
