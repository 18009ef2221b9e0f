"""Runs one of the course notes' programs with ``selectors`` replaced by ``iomux.selectors``.

    python3 seed_shim.py PROGRAM [ARGS...]

The program file is not touched: it is compiled and run as ``__main__`` after
``sys.modules["selectors"]`` is pointed at iomux's module, which is exactly what changing its
import line would do. ``IOMUX_BACKEND`` picks the backend of its ``DefaultSelector``.

For the tests, which start the server on port 0, a thread prints ``LISTENING <port> <class>
<backend>`` once the program's listening socket (``server_fileobj``, registered with its
selector ``sel``: the notes' names) is registered.
"""

import sys
import threading
import time

import iomux.selectors

sys.modules["selectors"] = iomux.selectors


def announce(namespace):
    while True:
        sel, server = namespace.get("sel"), namespace.get("server_fileobj")
        # get_map() may be read while the main thread waits in select().
        if sel is not None and server is not None and len(sel.get_map()) > 0:
            cls = type(sel)
            port = server.getsockname()[1]
            print(f"LISTENING {port} {cls.__module__}.{cls.__name__} {sel.BACKEND}", flush=True)
            return
        time.sleep(0.01)


def main():
    program = sys.argv[1]
    sys.argv = sys.argv[1:]
    with open(program) as f:
        code = compile(f.read(), program, "exec")
    namespace = {"__name__": "__main__", "__file__": program}
    threading.Thread(target=announce, args=(namespace,), daemon=True).start()
    exec(code, namespace)


if __name__ == "__main__":
    main()
