"""crypto layer (see DESIGN.md)."""
