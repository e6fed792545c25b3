"""The latent explorer: a local web page with a slider per latent, served by a small standard-library server.

``shadowplay explore runs/<run>`` (or ``shadowplay.explore(run)``) builds an :class:`Explorer` from a trained model
and its data, and serves the page in ``static/`` (plain HTML/JS/CSS, no external resources, no build step) with
:class:`ExplorerServer`. The page decodes on the server: a slider move asks for one small PNG, and the page keeps at
most one request in flight, sending only the newest code when it returns (dragging stays smooth on a slow model).
"""

from .server import ExplorerServer, allowed_host
from .session import Explorer, OutlierCheck
from .uploads import MAX_PIXELS, MAX_UPLOAD_BYTES, UploadError, decode_upload

__all__ = ["Explorer", "ExplorerServer", "OutlierCheck", "allowed_host", "MAX_PIXELS", "MAX_UPLOAD_BYTES",
           "UploadError", "decode_upload"]
