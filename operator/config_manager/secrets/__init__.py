"""secrets layer (see DESIGN.md)."""
