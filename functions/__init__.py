"""The triggers: one Blueprint per area, each trigger thin (parse, authenticate, call, map)."""
