"""The embedded backend: llama.cpp in-process (llama-cpp-python's low-level API).

Importing this package does not import llama.cpp; the library loads on first use.
"""
