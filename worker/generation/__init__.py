"""FLUX.1: loaded once (with its LoRAs and speed settings), planned and run per job."""
