"""Experiment configs shipped with fakevision (``fakevision train NAME``)."""
