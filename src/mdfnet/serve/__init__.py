"""``mdfnet serve``: a local web page and JSON API around one trained model (:func:`create_app`)."""

from mdfnet.serve.app import create_app

__all__ = ["create_app"]
