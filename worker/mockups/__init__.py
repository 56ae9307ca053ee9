"""Product mockups: templates loaded at cold start, and the design composited onto them per job."""
