"""pyserini-hybrid: hybrid batch training for multilingual dense retrieval, as a Pyserini plugin.

Nothing heavy happens at import: each module imports torch, pyserini or the JVM only when used.
"""

__version__ = "0.1.0"
