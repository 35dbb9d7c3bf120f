"""Two tiny films with clinical values and targets, for the model tests (tests/model/)."""

import torch


def tiny_batch(n: int = 2, size: int = 64, label: int = 4):
    """``(images [n, 3, size, size], clinical [n, 10], targets)``: image 0 has one box of class ``label`` and
    a full row of values; image 1 is a normal film with pain missing."""
    g = torch.Generator().manual_seed(0)
    images = torch.rand(n, 3, size, size, generator=g)
    clinical = torch.tensor([[70.0, 101.2, 110, 26, 91, 150, 85, 4, 2, 1],
                             [45.0, 98.1, 80, 16, 98, 120, 75, float("nan"), 3, 0]])[:n]
    targets = [{"boxes": torch.tensor([[8.0, 10.0, 40.0, 50.0]]), "labels": torch.tensor([label])},
               {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}][:n]  # a normal CXR
    return images, clinical, targets
