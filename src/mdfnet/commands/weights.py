"""``mdfnet weights``: list the backbones' ImageNet files and fetch them into torch's hub cache.

For clusters whose compute nodes are offline: ``mdfnet weights fetch all`` on the login node, then train
anywhere that sees the same ``$TORCH_HOME`` (or copy ``$TORCH_HOME/hub/checkpoints/`` across).

    mdfnet weights list
    mdfnet weights fetch NAME... | all
"""

from __future__ import annotations

import argparse

from mdfnet.model.backbones import BACKBONES
from mdfnet.model.weights import OFFLINE_ENV, cache_dir, fetch, list_weights

COLUMNS = ("backbone", "weights", "file", "size_mb", "size_from", "cached", "url")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="list or fetch the backbones' ImageNet weights (torch's hub cache)",
                       description=f"ImageNet weights of every backbone, as torchvision publishes them, kept in "
                                   f"torch's hub cache ($TORCH_HOME/hub/checkpoints). {OFFLINE_ENV}=1 forbids "
                                   "downloads.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="name, file, URL, size and whether it is cached, per backbone")
    fetch_parser = actions.add_parser("fetch", help="download into the cache (skips files already there)")
    fetch_parser.add_argument("names", nargs="+", metavar="NAME",
                              help=f"backbone(s) ({', '.join(BACKBONES)}) or all")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        print_table()
        return 0
    names = list(BACKBONES) if "all" in args.names else dict.fromkeys(args.names)
    for name in names:
        print(f"{name}: {fetch(name)}")
    return 0


def print_table() -> None:
    """One whitespace-separated row per backbone under a header, then the cache folder."""
    rows = [COLUMNS] + [(w.backbone, w.weights, w.file_name, "?" if w.size_mb is None else f"{w.size_mb:.1f}",
                         w.size_from, "yes" if w.cached else "no", w.url) for w in list_weights()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    print(f"cache: {cache_dir()} (torch.hub.get_dir()/checkpoints; set TORCH_HOME to move it); size in MB of "
          "2**20 bytes, from torchvision's meta or else the cached file")
