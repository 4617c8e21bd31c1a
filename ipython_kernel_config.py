"""Kernel settings for building and testing the book (copied into the virtual environment's
``etc/ipython`` by the Makefile, where every IPython kernel started from it reads them).

ipykernel logs "Kernel is running over TCP without encryption" at every start. The kernels
that the book build and nbval start run on this machine and talk over localhost, so the notice
says nothing about the book; printed once per chapter, it makes a clean build look broken.
This filter hides that one message and nothing else.
"""

import logging


class _HideLocalTransportNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "running over TCP without encryption" not in record.getMessage()


logging.getLogger("IPKernelApp").addFilter(_HideLocalTransportNotice())
