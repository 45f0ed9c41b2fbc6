"""The neutral core: request and chunk types shared by every API family and every backend."""
