"""Single place for the package version (also written into every sample's provenance)."""

__version__ = "0.1.0"
