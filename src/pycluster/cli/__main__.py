"""``python -m pycluster.cli``: the same as the ``pycluster`` command."""

from pycluster.cli import main

if __name__ == "__main__":
    main()
