"""What the benchmark's Python echo servers share: how they talk to whoever started them.

A server prints one first line on standard output:

- ``LISTENING <port> <what> nofile=<n>``: it accepts connections on 127.0.0.1:<port>;
  ``<what>`` names the selector or event loop it runs on (one word), ``<n>`` is its
  RLIMIT_NOFILE soft limit after raising it (what bounds its connections);
- ``UNAVAILABLE <why>``: something it needs is not installed or not supported here (a module,
  a selector class this kernel cannot run); it exits with status 3. ``iomux bench python``
  records that subject as skipped, with the reason. Any other failure is a traceback on
  standard error and is an error of the benchmark.
"""

import resource
import sys

UNAVAILABLE_STATUS = 3


def unavailable(why):
    """Says what is missing, the first-line way, and exits."""
    print(f"UNAVAILABLE {why}", flush=True)
    sys.exit(UNAVAILABLE_STATUS)


def raise_nofile_limit():
    """Raises the soft RLIMIT_NOFILE to the hard limit (every connection is a descriptor: the
    default soft limit, often 1024, would stop a server short of 1,000 connections); returns
    the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass  # e.g. an infinite hard limit the kernel caps lower: keep the soft one
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def announce(port, what, nofile):
    """The first line of a server that accepts connections."""
    print(f"LISTENING {port} {what} nofile={nofile}", flush=True)
