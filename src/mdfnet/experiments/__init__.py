"""The paper's experiments as commands: each study trains, evaluates and tabulates its runs.

``run_study("variants", cohort, out, seeds=(0, 1, 2))`` is what ``mdfnet ablate variants`` calls.
"""

from mdfnet.experiments.compare import compare_runs
from mdfnet.experiments.correlation import clinical_correlation, run_correlation
from mdfnet.experiments.runner import run_study
from mdfnet.experiments.studies import FEATURE_SUBSETS, STUDIES, STUDY_NAMES, RunSpec, study_specs
from mdfnet.experiments.tables import aggregate, to_markdown

__all__ = ["FEATURE_SUBSETS", "STUDIES", "STUDY_NAMES", "RunSpec", "aggregate", "clinical_correlation", "compare_runs",
           "run_correlation", "run_study", "study_specs", "to_markdown"]
