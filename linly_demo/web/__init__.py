"""The web app around the core: session ownership of files, the guard middleware, handlers, server set-up."""
