"""Importers of trained checkpoints (torch is an optional extra: ``pip install evsim[torch]``)."""
