"""Wire models: the JSON each API family accepts, as pydantic models (no FastAPI here)."""
