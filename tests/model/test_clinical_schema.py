"""The clinical encoder and the detector built from another cohort's schema than MIMIC's."""

import pytest
import torch

from mdfnet.errors import InputError
from mdfnet.feature_schema import CohortSchema, Feature
from mdfnet.model import build_model
from mdfnet.model.clinical import ClinicalEncoder, fit_statistics

NAN = float("nan")
SCHEMA = CohortSchema(("hot spot", "cold spot", "crack"), (
    Feature("temperature", "numeric"), Feature("humidity", "numeric"),
    Feature("camera", "categorical", ("A", "B")), Feature("site", "categorical", ("x", "y", "z"))))


def test_layout_numbers_indicators_then_one_embedding_per_category_with_unseen_slot():
    enc = ClinicalEncoder(dim=16, missing_indicators=True, schema=SCHEMA)
    # 2 numbers + 2 indicators = 4; the other 12 split 6 / 6; each embedding has one row more (unseen)
    assert [tuple(e.weight.shape) for e in enc.embeddings] == [(3, 6), (4, 6)]
    enc.set_statistics(torch.tensor([50.0, 60.0]), torch.tensor([10.0, 20.0]))
    x = torch.tensor([[70.0, NAN, 1.0, 2.0],     # camera B, site z
                      [45.0, 80.0, 2.0, NAN]])   # camera unseen, site missing: both the unseen slot
    out = enc(x)
    assert out.shape == (2, 16)
    torch.testing.assert_close(out[:, :4], torch.tensor([[2.0, 0.0, 0.0, 1.0], [-0.5, 1.0, 0.0, 0.0]]))
    torch.testing.assert_close(out[0, 4:10], enc.embeddings[0].weight[1])
    torch.testing.assert_close(out[0, 10:], enc.embeddings[1].weight[2])
    torch.testing.assert_close(out[1, 4:10], enc.embeddings[0].weight[2])
    torch.testing.assert_close(out[1, 10:], enc.embeddings[1].weight[3])


def test_uneven_widths_subset_and_errors():
    enc = ClinicalEncoder(("site", "camera", "temperature"), dim=12, schema=SCHEMA)
    assert enc.features == ("temperature", "camera", "site")  # schema order
    assert [e.embedding_dim for e in enc.embeddings] == [6, 5]  # 11 left: the first gets the extra one
    with pytest.raises(InputError, match=r"clinical dim 5 is too small for 4 numeric columns and 2 categorical"):
        ClinicalEncoder(dim=5, missing_indicators=True, schema=SCHEMA)
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        enc(torch.zeros(1, 10))


def test_fit_statistics_takes_the_schema_numeric_columns():
    x = torch.tensor([[1.0, 10.0, 0.0, 0.0], [3.0, NAN, 1.0, 1.0]])
    mean, std = fit_statistics(x, num_numeric=2)
    torch.testing.assert_close(mean, torch.tensor([2.0, 10.0]))
    torch.testing.assert_close(std, torch.tensor([2 ** 0.5, 1.0]))


def test_old_mimic_checkpoints_name_the_gender_embedding_gender_weight():
    enc = ClinicalEncoder()
    state = {k.replace("embeddings.0.", "gender."): v for k, v in enc.state_dict().items()}
    assert "gender.weight" in state
    fresh = ClinicalEncoder()
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh.gender.weight, enc.gender.weight)


def test_detector_from_a_schema_has_its_classes_and_clinical_width():
    torch.manual_seed(0)
    model = build_model("mdf", "fast", schema=SCHEMA, image_size=64)
    assert model.roi_heads.box_predictor.cls_score.out_features == 4  # 3 classes + background
    assert model.clinical_encoder.features == SCHEMA.names and model.schema is SCHEMA
    model.eval()
    out = model([torch.rand(3, 64, 64)], torch.tensor([[50.0, NAN, 0.0, 3.0]]))
    assert set(out[0]) == {"boxes", "labels", "scores"}
    assert all(1 <= label <= 3 for label in out[0]["labels"].tolist())
    with pytest.raises(ValueError, match=r"expected \[1, 4\]"):
        model([torch.rand(3, 64, 64)], torch.zeros(1, 10))
