"""Image I/O: uploaded bytes to pixels, pixels to response bytes (numpy in, numpy out)."""
