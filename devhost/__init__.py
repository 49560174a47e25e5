"""The development host: serves ``function_app.app`` over real HTTP on 127.0.0.1 (no Core Tools)."""
