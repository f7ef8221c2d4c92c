"""Runs a recipe: sources -> samples -> writers, in shards over local worker processes (Ray later)."""
