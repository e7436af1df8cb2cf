"""Drishya's entry point: `functions-framework --target handler` serves this function."""
import functions_framework

from handler.dispatch import handle


@functions_framework.http
def handler(request):
    return handle(request)
