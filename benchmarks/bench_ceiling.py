"""Ceiling: the AP a detector that localised every finding perfectly could reach, with and without the vitals.

    .venv/bin/python benchmarks/bench_ceiling.py                 # every setting of bench_quality gain, ~4 min
    .venv/bin/python benchmarks/bench_ceiling.py --settings hard@1 --studies 400000
    .venv/bin/python benchmarks/bench_ceiling.py --settings hard@1 --train-studies 500   # learnt from 500 films

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
other. With ``--train-studies N`` it is fitted on the detections of only ``N`` studies instead, about what a
detector's training split holds (the ``gain`` cohorts train on about 500 patients), with early stopping on
the detections of another ``N / 4`` (as model selection on a validation split), and evaluated on the same
held-out half: what the vitals can teach from that many examples even with perfect localisation. AP is
all-points interpolated (the precision envelope), over the pooled detections, as the evaluation pools a
split's images.
The ceilings bound what any detector can reach at IoBB 0.5 on the setting; the measured figures of
``bench_quality.py gain`` fall short of them by what localisation loses (misses, background false
positives), and MDF-Net's gain is bounded by the difference between the two ceilings.
"""

from __future__ import annotations

import argparse
import copy

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


def posterior(features: np.ndarray, labels: np.ndarray, train: np.ndarray, seed: int, steps: int = 3000,
              val: np.ndarray | None = None, patience: int = 100) -> np.ndarray:
    """``P(label | features)`` for every row, from a 2x64 MLP fitted on the ``train`` rows only, in batches
    of 2048 rows (all of them when there are fewer).

    With ``val`` rows: the weights with the lowest cross-entropy on them, checked after every step,
    stopping after ``patience`` steps without a new best."""
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
    val_rows = None if val is None else torch.tensor(np.flatnonzero(val))
    best, best_state, since_best = float("inf"), None, 0
    for _ in range(steps):
        batch = rows[torch.randint(len(rows), (2048,))] if len(rows) > 2048 else rows
        loss = torch.nn.functional.cross_entropy(net(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if val_rows is not None:
            with torch.no_grad():
                val_loss = float(torch.nn.functional.cross_entropy(net(x[val_rows]), y[val_rows]))
            if val_loss < best:
                best, best_state, since_best = val_loss, copy.deepcopy(net.state_dict()), 0
            elif (since_best := since_best + 1) >= patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    with torch.no_grad():
        return net(x).softmax(1).numpy()


def ceilings(name: str, studies: int, seed: int, steps: int = 3000, train_studies: int | None = None) -> list[dict]:
    """One row per labelled class of every group: its share of the group and the two ceilings.

    ``train_studies``: fit each posterior on the detections of that many studies (early stopping on a
    quarter as many more) instead of half of all detections; the held-out half is the same either way."""
    if train_studies is not None and not 0 < 1.25 * train_studies <= studies // 2:
        raise SystemExit(f"--train-studies {train_studies}: give 1 to {int(studies // 2 / 1.25)} "
                         f"(the fit and its early-stopping quarter come from the first half of {studies} studies)")
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
        if train_studies is None:
            train, val = np.arange(len(which)) % 2 == 0, None
            held_out = ~train
        else:  # studies are independent draws: the first ones fit, the next quarter stop, the second half scores
            train, val = which < train_studies, (which >= train_studies) & (which < 1.25 * train_studies)
            held_out = which >= studies // 2
        image_only = posterior(film[which], labels, train, seed, steps, val)[held_out]
        with_vitals = posterior(clinical[which], labels, train, seed, steps, val)[held_out]
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
    parser.add_argument("--train-studies", type=int, default=None,
                        help="fit the posteriors on this many studies' detections (default: half of all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    fitted = (f"posteriors fitted on {args.train_studies:,} studies" if args.train_studies
              else "posteriors fitted on half of them")
    print(f"perfect-localisation AP ceilings, {args.studies:,} synthetic studies per setting, {fitted}, "
          f"seed {args.seed}\n")
    print("| setting | class | look-alike group | share of group | image only | with the vitals | room for fusion "
          "(points) |")
    print("|---|---|---|---:|---:|---:|---:|")
    for name in args.settings:
        for r in ceilings(name, args.studies, args.seed, train_studies=args.train_studies):
            print(f"| {r['setting']} | {r['class']} | {r['group']} | {r['share']:.2f} | {r['image_only']:.2f} | {r['with_vitals']:.2f} | "
                  f"{100 * (r['with_vitals'] - r['image_only']):+.0f} |")


if __name__ == "__main__":
    main()
