"""Data stage: raw MIMIC/REFLACX tables -> cohort folder (``prepare``) -> torch dataset.

Public API: :func:`prepare`, :func:`load_cohort`, :class:`CohortDataset`, :func:`collate`,
:func:`clinical_tensor`, :func:`read_image`, :func:`link_stays`.
"""

from mdfnet.data.cohort import load_cohort
from mdfnet.data.dataset import CohortDataset, clinical_tensor, collate
from mdfnet.data.images import read_image
from mdfnet.data.link import link_stays
from mdfnet.data.prepare import prepare

__all__ = ["CohortDataset", "clinical_tensor", "collate", "link_stays", "load_cohort", "prepare", "read_image"]
