"""The built-in proxy handlers: open files, loggers, and (when their library is installed)
HTTP sessions and clients and cloud storage clients."""
