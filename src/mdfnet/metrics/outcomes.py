"""What COCO matching decided for each detection, kept so that statistics can re-weight images.

:class:`Matching` checks and selects the records once and holds the C++ matcher; its
:meth:`~Matching.outcomes` runs one matching pass at one overlap threshold and returns, for every kept
detection, whether it is a true positive, a false positive or ignored (matched to a crowd region, or
outside COCO's area range), plus the ground truth that counts per image and class. AP/AR with image
weights (the bootstrap), FROC and the TP/FP/FN counts are all computed from these, without matching again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mdfnet.metrics.coco import detection_table, ground_truth_table
from mdfnet.metrics.matching import ALL_AREAS, MAX_DETS_PER, OVERLAPS, Matcher, gc_paused, select_detections


class Matching:
    """Ground truth and selected detections of one evaluation, with their matcher.

    Args:
        gt, dets: COCO ground truth and results (checked; a bad record raises ``InputError``).
        overlap: ``"iobb"`` or ``"iou"``.
        max_dets, max_dets_per: the ``max_dets`` best detections kept per image and class
            (``"image_class"``, COCO's cut) or per image over all classes (``"image"``).
        score_threshold: detections below it are dropped before the ``max_dets`` cut.

    Attributes:
        gts: ground truth grouped by (image, category); dets: the kept detections
            (:func:`~mdfnet.metrics.matching.select_detections` order); image_ids: sorted image ids;
        categories: COCO categories sorted by id; matcher: the :class:`~mdfnet.metrics.matching.Matcher`.
    """

    def __init__(self, gt: dict, dets: list[dict], *, overlap: str = "iobb", max_dets: int = 10,
                 max_dets_per: str = "image_class", score_threshold: float = 0.05) -> None:
        if overlap not in OVERLAPS:
            raise ValueError(f"overlap must be one of {OVERLAPS}, got {overlap!r}")
        if max_dets_per not in MAX_DETS_PER:
            raise ValueError(f"max_dets_per must be one of {MAX_DETS_PER}, got {max_dets_per!r}")
        if max_dets < 1:
            raise ValueError(f"max_dets must be >= 1, got {max_dets}")
        with gc_paused():
            self.gts = ground_truth_table(gt)
            table = detection_table(dets, gt)
            self.dets = table.take(select_detections(table, score_threshold, max_dets, max_dets_per))
            self.image_ids = sorted(image["id"] for image in gt["images"])
            self.categories = sorted(gt["categories"], key=lambda c: c["id"])
            self.overlap, self.max_dets, self.max_dets_per = overlap, int(max_dets), max_dets_per
            self.matcher = Matcher(self.gts, self.dets, self.image_ids, [c["id"] for c in self.categories],
                                   overlap=overlap, max_dets=max_dets)

    def outcomes(self, threshold: float) -> Outcomes:
        """One matching pass at ``threshold``: the outcome of every kept detection (see :class:`Outcomes`)."""
        with gc_paused():  # the C++ side returns one Python object per match
            det_rows, gt_rows = matched_pairs(self.matcher.run([threshold])["matched"])
        gts, dets = self.gts, self.dets
        gt_ignored = gts.crowd | _outside_area_range(gts.area)
        is_matched = np.zeros(len(dets), bool)
        is_matched[det_rows] = True
        ignored = _outside_area_range(dets.area) & ~is_matched
        ignored[det_rows] = gt_ignored[gt_rows]
        counted = np.flatnonzero(~ignored)
        # COCO's accumulation order: by class, then descending score, ties in (image, per-image) order.
        counted = counted[np.lexsort((-dets.score[counted], dets.category[counted]))]

        image_ids, category_ids = np.asarray(self.image_ids), np.array([c["id"] for c in self.categories])
        gt_count = np.zeros((len(image_ids), len(category_ids)), np.int64)
        real = ~gt_ignored
        np.add.at(gt_count, (np.searchsorted(image_ids, gts.image[real]),
                             np.searchsorted(category_ids, gts.category[real])), 1)
        category = np.searchsorted(category_ids, dets.category[counted])
        return Outcomes(
            threshold=float(threshold), overlap=self.overlap, image_ids=image_ids,
            names=tuple(c["name"] for c in self.categories), gt_count=gt_count,
            image=np.searchsorted(image_ids, dets.image[counted]), category=category,
            score=dets.score[counted], hit=is_matched[counted],
            class_start=np.searchsorted(category, np.arange(len(category_ids) + 1)))


@dataclass(frozen=True)
class Outcomes:
    """The matched detections of one evaluation at one overlap threshold.

    ``I`` images, ``K`` classes, ``N`` counted detections (true or false positives; ignored ones are left
    out, as COCO leaves them out of precision and recall).

    Attributes:
        threshold, overlap: the matching that produced them.
        image_ids: [I] sorted COCO image ids; names: [K] class names, by category id.
        gt_count: [I, K] ground truth that counts (not crowd, area in COCO's range), per image and class.
        image, category: [N] indices into ``image_ids`` and ``names``.
        score: [N]; hit: [N] True for a true positive.
        class_start: [K + 1]: class ``k``'s detections are rows ``class_start[k]:class_start[k + 1]``,
            in COCO's accumulation order (descending score; ties by image, then by the order within it).
    """

    threshold: float
    overlap: str
    image_ids: np.ndarray
    names: tuple[str, ...]
    gt_count: np.ndarray
    image: np.ndarray
    category: np.ndarray
    score: np.ndarray
    hit: np.ndarray
    class_start: np.ndarray

    def of_class(self, k: int) -> slice:
        return slice(int(self.class_start[k]), int(self.class_start[k + 1]))


def matched_pairs(matched: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """(detection rows, ground-truth rows) from the C++ ``matched`` dict, keys ``"<det row + 1>_<gt row + 1>"``."""
    flat = np.array(" ".join(matched).replace("_", " ").split(), dtype=np.int64) - 1
    return flat[0::2], flat[1::2]


def _outside_area_range(area: np.ndarray) -> np.ndarray:
    """COCO ignores an unmatched detection, and any ground truth, whose area lies outside the range."""
    return (area < ALL_AREAS[0]) | (area > ALL_AREAS[1])
