import math
import re

import pytest
import torch

from mdfnet.errors import InputError
from mdfnet.model.clinical import ClinicalEncoder, fit_statistics
from mdfnet.schema import CLINICAL_FEATURES

NAN = float("nan")


def test_fit_statistics_is_nan_aware_and_matches_hand_values():
    clinical = torch.full((3, 10), NAN)
    clinical[:, 0] = torch.tensor([40.0, 60.0, NAN])  # mean 50, sample sd 14.142...
    clinical[:, 1] = torch.tensor([98.0, 100.0, 102.0])  # mean 100, sd 2
    mean, std = fit_statistics(clinical)
    assert mean[0].item() == pytest.approx(50.0) and std[0].item() == pytest.approx(200 ** 0.5)
    assert mean[1].item() == pytest.approx(100.0) and std[1].item() == pytest.approx(2.0)
    # a feature missing everywhere encodes as "unknown": mean 0, std 1
    assert mean[2].item() == 0.0 and std[2].item() == 1.0


def test_encoder_layout_with_missing_indicators():
    enc = ClinicalEncoder(("age", "temperature", "gender"), dim=8, missing_indicators=True)
    enc.set_statistics(torch.tensor([50.0, 100.0] + [0.0] * 7), torch.tensor([10.0, 2.0] + [1.0] * 7))
    row = torch.full((2, 10), NAN)
    row[0, 0], row[0, 1], row[0, 9] = 70.0, NAN, 1.0    # temperature missing
    row[1, 0], row[1, 1], row[1, 9] = 40.0, 104.0, NAN  # gender missing
    out = enc(row)
    assert out.shape == (2, 8)
    # [age_z, temp_z, age_missing, temp_missing, gender embedding (4)]
    torch.testing.assert_close(out[0, :4], torch.tensor([2.0, 0.0, 0.0, 1.0]))
    torch.testing.assert_close(out[1, :4], torch.tensor([-1.0, 2.0, 0.0, 0.0]))
    torch.testing.assert_close(out[0, 4:], enc.gender.weight[1])
    torch.testing.assert_close(out[1, 4:], enc.gender.weight.mean(0))  # missing gender: mean embedding


def test_paper_layout_is_nine_numbers_and_a_55d_gender_embedding():
    enc = ClinicalEncoder(dim=64, missing_indicators=False)
    assert enc.gender.weight.shape == (2, 55)
    assert enc(torch.zeros(1, 10)).shape == (1, 64)


def test_subset_without_gender_is_zero_padded_to_the_width():
    enc = ClinicalEncoder(("resprate",), dim=16, missing_indicators=True)
    x = torch.zeros(1, 10)
    x[0, 3] = 5.0
    out = enc(x)
    assert out.shape == (1, 16)
    assert out[0, 0].item() == 5.0 and out[0, 1:].abs().sum().item() == 0.0


def test_statistics_travel_in_the_state_dict():
    enc = ClinicalEncoder()
    enc.set_statistics(torch.arange(9.0), torch.full((9,), 2.0))
    fresh = ClinicalEncoder()
    fresh.load_state_dict(enc.state_dict())
    torch.testing.assert_close(fresh.mean, torch.arange(9.0))


def test_bad_subset_and_width_are_clear_errors():
    subset = re.escape(f"clinical features must be a non-empty subset of {CLINICAL_FEATURES}, got ")
    with pytest.raises(InputError, match=subset + r"unknown \['bmi'\]$"):
        ClinicalEncoder(("age", "bmi"))
    with pytest.raises(InputError, match=subset + "an empty subset$"):  # the first half of the message kept
        ClinicalEncoder(())
    with pytest.raises(InputError, match="^clinical dim 18 is too small for 18 numeric columns and a gender embedding$"):
        ClinicalEncoder(dim=18, missing_indicators=True)
    with pytest.raises(InputError, match=r"\[N, 10\]"):
        ClinicalEncoder()(torch.zeros(2, 9))


def test_fit_medians_is_nan_aware_with_the_mean_of_the_two_middle_values():
    from mdfnet.model.clinical import fit_medians

    clinical = torch.full((4, 10), NAN)
    clinical[:, 0] = torch.tensor([40.0, 90.0, 60.0, NAN])     # odd count: the middle value
    clinical[:, 1] = torch.tensor([98.0, 104.0, 100.0, 99.0])  # even count: (99 + 100) / 2
    medians = fit_medians(clinical)
    assert medians.shape == (9,)
    assert medians[0].item() == 60.0 and medians[1].item() == 99.5
    assert math.isnan(medians[2].item())  # missing in every row
