"""Sub-commands of the ``mdfnet`` CLI, one module each (see :mod:`mdfnet.cli`)."""
