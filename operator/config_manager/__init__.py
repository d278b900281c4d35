"""config_manager: layered configuration with secrets management (public API re-exported here)."""
