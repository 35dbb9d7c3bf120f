"""Ceiling: the AP a detector that localised every finding perfectly could reach, with and without the vitals.

    .venv/bin/python benchmarks/bench_ceiling.py                 # every setting of bench_quality gain, ~4 min
    .venv/bin/python benchmarks/bench_ceiling.py --settings hard@1 --studies 400000

In ``mdfnet synth`` each labelled finding has look-alikes drawn by the same renderer at the same places
(``mdfnet.synth.spec``, point 6): consolidation, atelectasis and the unlabelled decoy opacity; pulmonary
edema and the decoy haze; pleural abnormality and the decoy blunting. The pixels cannot tell the members of a
group apart, so a detector that finds every member perfectly still has to rank, say, the atelectasis
among all the opacities it found, and only the patient's data can help. This script draws ``--studies``
patients from the generator's own clinical model (ages, latent causes, lesions, clean triage vitals: no
missing values or entry errors, so the vitals are at their most informative), keeps every look-alike as one
perfectly placed detection, and scores it

- *image only*: by ``P(class | what a perfect reader sees on the film)``: how many members of each group
  it shows, and whether the heart is enlarged (other findings share causes with this one);
- *with the vitals*: by ``P(class | the film as above, age, vitals)``.

Each posterior is a small network (2x64 MLP) fitted on one half of the detections and evaluated on the
other. AP is all-points interpolated (the precision envelope), over the pooled detections, as the
evaluation pools a split's images.
The ceilings bound what any detector can reach at IoBB 0.5 on the setting; the measured figures of
``bench_quality.py gain`` fall short of them by what localisation loses (misses, background false
positives), and MDF-Net's gain is bounded by the difference between the two ceilings.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from mdfnet.synth.clinical import draw_ages, draw_causes, draw_lesions, draw_vitals
from mdfnet.synth.spec import setting

SETTINGS = ("demo", "hard@1", "hard@0.5", "hard@0")
# look-alike groups: the labelled classes and the unlabelled decoy that one renderer draws
GROUPS: dict[str, tuple[str, ...]] = {
    "opacity": ("Atelectasis", "Consolidation", "decoy_opacity"),
    "haze": ("Pulmonary edema", "decoy_haze"),
    "costophrenic angle": ("Pleural abnormality", "decoy_blunting"),
}


def average_precision(positive: np.ndarray, score: np.ndarray) -> float:
    """All-points interpolated AP of one ranking: at each positive, the best precision at that recall or beyond."""
    order = np.argsort(-score, kind="stable")
    hits = positive[order].astype(float)
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    return float((envelope * hits).sum() / max(hits.sum(), 1.0))


def posterior(features: np.ndarray, labels: np.ndarray, train: np.ndarray, seed: int, steps: int = 3000) -> np.ndarray:
    """``P(label | features)`` for every row, from a 2x64 MLP fitted on the ``train`` rows only."""
    torch.manual_seed(seed)
    x = torch.tensor(features, dtype=torch.float32)
    mean, sd = x[train].mean(0), x[train].std(0).clamp_min(1e-6)
    x = (x - mean) / sd
    y = torch.tensor(labels)
    n_classes = int(labels.max()) + 1
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                              torch.nn.ReLU(), torch.nn.Linear(64, n_classes))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    rows = torch.tensor(np.flatnonzero(train))
    for _ in range(steps):
        batch = rows[torch.randint(len(rows), (2048,))]
        loss = torch.nn.functional.cross_entropy(net(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return net(x).softmax(1).numpy()


def ceilings(name: str, studies: int, seed: int, steps: int = 3000) -> list[dict]:
    """One row per labelled class of every group: its share of the group and the two ceilings."""
    base, _, signal = name.partition("@")
    spec = setting(base, float(signal or 1.0))
    rng = np.random.default_rng(seed)
    age = draw_ages(spec, studies, rng)
    causes = draw_causes(spec, age, rng)
    lesions = draw_lesions(spec, causes, rng)
    vitals = draw_vitals(spec, age, causes, rng)
    film = np.column_stack([lesions[list(members)].sum(axis=1) for members in GROUPS.values()]
                           + [lesions["Enlarged cardiac silhouette"]]).astype(float)
    clinical = np.column_stack([film, age, vitals.to_numpy()])
    rows = []
    for group, members in GROUPS.items():
        present = [(i, np.flatnonzero(lesions[m].to_numpy())) for i, m in enumerate(members)]
        which = np.concatenate([studies_with for _, studies_with in present])  # one detection per finding
        labels = np.concatenate([np.full(len(studies_with), i) for i, studies_with in present])
        shuffle = np.random.default_rng(seed + 1).permutation(len(which))  # equal scores rank in random order
        which, labels = which[shuffle], labels[shuffle]
        train = np.arange(len(which)) % 2 == 0
        held_out = ~train
        image_only = posterior(film[which], labels, train, seed, steps)[held_out]
        with_vitals = posterior(clinical[which], labels, train, seed, steps)[held_out]
        for i, member in enumerate(members):
            if member.startswith("decoy"):
                continue
            positive = labels[held_out] == i
            rows.append({"setting": name, "group": group, "class": member, "share": float(positive.mean()),
                         "image_only": average_precision(positive, image_only[:, i]),
                         "with_vitals": average_precision(positive, with_vitals[:, i])})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS))
    parser.add_argument("--studies", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"perfect-localisation AP ceilings, {args.studies:,} synthetic studies per setting, seed {args.seed}\n")
    print("| setting | class | look-alike group | share of group | image only | with the vitals | room for fusion "
          "(points) |")
    print("|---|---|---|---:|---:|---:|---:|")
    for name in args.settings:
        for r in ceilings(name, args.studies, args.seed):
            print(f"| {r['setting']} | {r['class']} | {r['group']} | {r['share']:.2f} | {r['image_only']:.2f} | {r['with_vitals']:.2f} | "
                  f"{100 * (r['with_vitals'] - r['image_only']):+.0f} |")


if __name__ == "__main__":
    main()
