"""Units, formatting, tables and JSON for reports; shared by the CLI and the language server."""
