"""Helpers shared by the tests: paths, test images, the function under test, servers, checkpoints."""
