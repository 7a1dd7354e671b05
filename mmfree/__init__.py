"""The `mmfree` command line: one entry point to the project's tools."""
