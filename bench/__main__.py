"""make bench: the load benchmark over HTTP (see bench/harness.py); python -m bench --help."""

from .harness import main

if __name__ == "__main__":
    main()
