"""Send Secure back end: the application package (rules, services and the adapters to Azure)."""

__version__ = "0.1.0"
