"""flopsight's language server: ``flopsight.lsp.server.start()`` (``flopsight serve``)."""
