"""Subgroups of a cohort with another schema than MIMIC's: its categorical features and completeness."""

import numpy as np
import pandas as pd

from mdfnet.feature_schema import CohortSchema, Feature
from mdfnet.metrics.subgroups import levels_by_image, subgroup_levels


def test_categorical_features_are_the_attributes():
    schema = CohortSchema(("crack",), (Feature("temperature", "numeric"), Feature("camera", "categorical", ("A",))))
    frame = pd.DataFrame({"temperature": [20.0, np.nan, 30.0], "camera": ["A", "B", None]})
    assert subgroup_levels(frame, schema) == {"camera": ["A", "B", "missing"],
                                              "clinical": ["complete", "incomplete", "incomplete"]}
    assert levels_by_image(frame, [4, 5, 6], schema)["camera"] == {4: "A", 5: "B", 6: "missing"}
