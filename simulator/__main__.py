"""`python -m simulator` runs the simulator server (same as `veo-simulator`)."""

from simulator.server import main

main()
