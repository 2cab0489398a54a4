"""The window fixtures (``isolated``, ``keras_loaded``, ``window``, ``check_worker``) for
every GUI test, the journeys under ``tests/gui/journeys`` included."""

from session_fixtures import inspector, session, view  # noqa: F401 (a bare session's widgets)
from window_support import check_worker, isolated, keras_loaded, window  # noqa: F401
