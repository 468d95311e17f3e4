"""`python -m worker.upstream.simulator` runs the simulator server (same as `veo-simulator`)."""

from worker.upstream.simulator.server import main

main()
