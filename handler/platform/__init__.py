"""The platform the function runs on: configuration, the runtime state, logs, the container's
resources, the memory allocator, the page cache and the server entry."""
