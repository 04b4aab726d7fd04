"""Speech and consent-gated voice cloning. Never imports portrait modules (a test checks the import graph)."""
