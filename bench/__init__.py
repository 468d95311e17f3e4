"""The benchmark suite: `make bench` (or `.venv/bin/python bench/run.py --help`)."""
