"""Typed, validated views of what our objects ask for: a ManagedSecret's spec and the references every
kind shares (``managedsecret``), rotation (``rotation``), the objects a kind writes and its force-sync
annotation (``outputs``), and durations (``durations``)."""
