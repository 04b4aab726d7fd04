"""linly-demo: a privacy-first talking-portrait app.

Data flows one way: upload -> portrait features -> driving signals -> frames -> video.
"""

__version__ = "0.3.0"  # kept equal to pyproject.toml (a test checks)
