"""`[core] hostname_callable` of the deployment harness's Celery workers: each worker runs on this one machine
but names itself as a separate host would (`AUTHAPI_DEPLOYMENT_HOSTNAME`), so the task instances it runs record
which worker ran them. The harness puts this file on the workers' path as `authapi_deployment_hostname`."""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    """The worker's name from `AUTHAPI_DEPLOYMENT_HOSTNAME`, else this machine's fully qualified name."""
    return os.environ.get("AUTHAPI_DEPLOYMENT_HOSTNAME") or socket.getfqdn()
