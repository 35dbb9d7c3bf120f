"""The README says what the code does: facts it states are checked against the code that holds them."""

from __future__ import annotations

from pathlib import Path

from mdfnet.data.prepare import EXCLUSION_REASONS

README = Path(__file__).resolve().parents[1] / "README.md"
# How the README names each exclusion reason of mdfnet.data.prepare.
EXCLUSION_WORDS = {
    "eye_tracking_discarded": "eye-tracking data discarded", "image_not_in_metadata": "image not in the metadata",
    "image_file_missing": "image file missing", "no_stay": "no stay", "multiple_stays": "several stays",
    "ellipses_file_missing": "ellipse file missing", "image_unreadable": "image file unreadable",
}


def test_readme_lists_the_exclusions_in_the_codes_order():
    text = " ".join(README.read_text().split())  # one line: the list wraps
    bullet = text[text.index("**Exclusions**"):]
    listed = bullet[bullet.index("in this order"):bullet.index("`prepare_report.json`")]
    positions = [listed.index(EXCLUSION_WORDS[reason]) for reason in EXCLUSION_REASONS]
    assert sorted(EXCLUSION_WORDS) == sorted(EXCLUSION_REASONS)
    assert positions == sorted(positions)
