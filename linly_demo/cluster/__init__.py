"""Rendering on a Ray cluster (LINLY_RAY_ADDRESS): the app's gateway, the Ray driver process, the render tasks."""
