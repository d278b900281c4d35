"""Writing Secrets and ConfigMaps: ownership and no-op rules (``writer``), what a ManagedSecret's outputs
hold (``desired``), provider values as Secret data (``values``) and templates (``template``)."""
