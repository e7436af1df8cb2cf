"""The WSGI app gunicorn serves: functions-framework's app around main.handler."""
import sys
from pathlib import Path

import functions_framework

MAIN = Path(__file__).resolve().parents[2] / "main.py"

app = functions_framework.create_app("handler", str(MAIN))
# functions-framework registered main.py as the module "main"; its handler calls this Function.
function = sys.modules["main"].function
