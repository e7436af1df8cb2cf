"""Product replacement as pure functions (numpy in, numpy out).

Public API: replace_product, mask_preview, CompositeSettings, settings_schema,
CompositeResult, Fill, Frame, Placement, QualityWarning, SettingsError, CompositingError.
"""
from .errors import CompositingError, SettingsError
from .pipeline import CompositeResult, Fill, Frame, Placement, replace_product
from .preview import mask_preview
from .settings import CompositeSettings, settings_schema
from .warnings import QualityWarning

__all__ = ["CompositeResult", "CompositeSettings", "CompositingError", "Fill", "Frame", "Placement", "QualityWarning",
           "SettingsError", "mask_preview", "replace_product", "settings_schema"]
