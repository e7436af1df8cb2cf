"""Drishya's entry point: `functions-framework --target handler` serves this function."""
from handler.edge import create_handler
from handler.platform.allocator import configure_allocator

configure_allocator()
function = create_handler()  # reads the environment once, at the first request


def handler(request):
    return function(request)
