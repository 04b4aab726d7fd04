"""Rendering: speech -> driving signals -> frames (a dense, weight-free warp of the aligned template)."""
