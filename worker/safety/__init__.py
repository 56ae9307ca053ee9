"""Content safety: blocked terms and optional classifiers screen the prompt and every design."""
