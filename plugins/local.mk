# Built-in source plugins: each adds its name to builtin_plugins and its
# files to builtin_sources.
