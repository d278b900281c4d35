"""sources layer (see DESIGN.md)."""
