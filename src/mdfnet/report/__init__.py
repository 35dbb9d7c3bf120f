"""Reports: figures (:mod:`mdfnet.report.plots`) drawn from metrics dicts and images.

Import the plotting module directly (``from mdfnet.report import plots``); it pulls in matplotlib.
"""
