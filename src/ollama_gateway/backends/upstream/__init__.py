"""What every upstream LLM server backend shares: the lean HTTP client (``http``)."""
