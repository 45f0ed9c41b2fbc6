"""HTTP routers, one module per API family, and the rendering of errors and streams."""
