"""Settings, driven by the environment.

`base` holds what every deployment shares; the per-concern modules add the API,
Celery and security settings. Production is simply `DEBUG` off with a real
`SECRET_KEY`; `orderfin.settings.test` adjusts a few things for the test suite.
"""

from .api import *  # noqa: F403
from .base import *  # noqa: F403
from .security import *  # noqa: F403
from .tasks import *  # noqa: F403
