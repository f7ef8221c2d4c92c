"""``python -m fakevision ...`` is the ``fakevision`` command (what ``torchrun -m fakevision train ...`` runs)."""

from fakevision.cli import main

if __name__ == "__main__":
    main()
