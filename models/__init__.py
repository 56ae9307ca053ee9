"""Model tooling: a tiny random-weight FLUX.1 for offline runs, and the real-weight downloader."""
