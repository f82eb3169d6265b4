"""REST API of the platform service, ``/services/tenanthub/api/v1``."""
