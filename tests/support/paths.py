"""Where the repository and the shared model data are, independent of the working directory."""
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
SHARED = REPO.parent / "shared"
SHARED_MOBILESAM = SHARED / "mobilesam"
GOLDEN = SHARED_MOBILESAM / "golden_vit_t.pt"
MANIFEST = SHARED_MOBILESAM / "state_dict_manifest.json"
