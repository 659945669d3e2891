"""flopsight.lsp."""
