"""Experiment configs shipped with fakevision (``fakevision train NAME``): the recipes of the shipped weights."""
