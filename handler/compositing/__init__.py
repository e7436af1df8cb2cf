"""Product replacement as pure functions (numpy in, numpy out).

Public API: replace_product, mask_preview, CompositeSettings, settings_schema,
CompositeResult, SettingsError, CompositingError.
"""
from .errors import CompositingError, SettingsError
from .pipeline import CompositeResult, replace_product
from .preview import mask_preview
from .settings import CompositeSettings, settings_schema

__all__ = ["CompositeResult", "CompositeSettings", "CompositingError", "SettingsError",
           "mask_preview", "replace_product", "settings_schema"]
