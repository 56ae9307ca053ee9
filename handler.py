"""RunPod entry point: load the model once at import (cold start), then serve jobs.

python handler.py                                    # runs test_input.json and exits
python handler.py --rp_serve_api --rp_api_port 8000  # RunPod's local API server (POST /runsync)
"""

import runpod

from worker import DesignWorker
from worker.local_run import local_test_handler, runs_local_test
from worker.runtime.config import Settings
from worker.runtime.logs import configure_logging

settings = Settings()
local_test = __name__ == "__main__" and runs_local_test()
configure_logging(settings, local_test=local_test)
worker = DesignWorker.cold_start(settings)
runpod.serverless.register_fitness_check(worker.fitness_check)

if __name__ == "__main__":
    runpod.serverless.start({"handler": local_test_handler(worker.handle) if local_test else worker.handle})
